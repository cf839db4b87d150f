// Where the request path reports its own bugs (a filter or action that
// threw): logged by the worker, never thrown on to the event loop.
import type { RequestContext } from './context.js';

export type ErrorReporter = (err: unknown, where: string, ctx: RequestContext | null) => void;

let reporter: ErrorReporter = (err, where) => console.error(`wicket: ${where} threw`, err);

export function setErrorReporter(r: ErrorReporter): void {
  reporter = r;
}

export function reportError(err: unknown, where: string, ctx: RequestContext | null): void {
  try {
    reporter(err, where, ctx);
  } catch {
    // A logger that throws must not take the request path down either.
  }
}
