// The request phases every listener runs once it has a RequestContext, a
// ResponseSink and a route: onRequest (the route's rate limits: continue or
// a local reply), then the terminal phase (a static reply, or the listener's
// proxy for the route). Protocol-free: listeners pass their own `Phases`
// object, made once, so nothing is allocated per request here.
import type { Outcome } from '../features/rate-limit/feature.js';
import type { CompiledRoute } from '../worker/route-table.js';
import type { RequestContext, ResponseSink } from './context.js';
import type { ErrorCode } from './errors.js';

export interface Phases {
  /** The gateway's own error reply (does not report the exchange done). */
  fail(ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void;
  /** Once per exchange, at its end (access log, in-flight count). */
  done(ctx: RequestContext): void;
  /** The terminal phase of a proxied route. */
  proxy(ctx: RequestContext, sink: ResponseSink, route: CompiledRoute): void;
}

/** onRequest, then the terminal phase. Synchronous unless a limit is global. */
export function runPhases(ctx: RequestContext, sink: ResponseSink, route: CompiledRoute, p: Phases): void {
  const limits = route.rateLimit;
  if (limits === null) return terminal(ctx, sink, route, p);
  const outcome = limits.check(ctx);
  if (!(outcome instanceof Promise)) return admit(ctx, sink, route, outcome, p);
  outcome.then(
    (o) => admit(ctx, sink, route, o, p),
    () => refuse(ctx, sink, 'WICKET_ERR_INTERNAL', p),
  );
}

/** onRequest's verdict: answer 429/503 here, or go on with the limit headers. */
function admit(ctx: RequestContext, sink: ResponseSink, route: CompiledRoute, o: Outcome, p: Phases): void {
  if (o.headers.length > 0) sink.extraHeaders = o.headers;
  if (o.reject === null) return terminal(ctx, sink, route, p);
  ctx.body?.destroy();
  ctx.retryAfter = o.reject.retryAfterSec;
  refuse(ctx, sink, o.reject.code, p);
}

function refuse(ctx: RequestContext, sink: ResponseSink, code: ErrorCode, p: Phases): void {
  p.fail(ctx, sink, code);
  p.done(ctx);
}

/** A client gone while onRequest waited: nothing to answer. */
export function clientGone(ctx: RequestContext, p: Pick<Phases, 'done'>): void {
  ctx.body?.destroy();
  ctx.status = 499;
  ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
  p.done(ctx);
}

function terminal(ctx: RequestContext, sink: ResponseSink, route: CompiledRoute, p: Phases): void {
  if (sink.aborted) return clientGone(ctx, p);
  if (route.reply !== null) {
    const r = route.reply;
    ctx.status = r.status;
    ctx.bytesOut = r.body.length;
    const extra = sink.extraHeaders;
    // Passed once, in the reply's own list (the HTTP/2 sinks would add extraHeaders again).
    sink.extraHeaders = null;
    sink.reply(r.status, extra === null ? r.headers : [...r.headers, ...extra], r.body, false);
    return p.done(ctx);
  }
  p.proxy(ctx, sink, route);
}
