// The proxy phase: one ProxyCall per request is both undici's dispatch
// handler (callbacks in the order they happen: onConnect, onHeaders, onData*,
// onComplete | onError) and the sink's listener (drain, client abort).
// Undici's legacy handler API hands raw header Buffers straight through,
// which the uWS sink writes without string conversion.
import type { RequestContext, ResponseSink, SinkListener } from '../pipeline/context.js';
import { upstreamErrorCode, type ErrorCode } from '../pipeline/errors.js';
import { scanResponseHeaders, upstreamRequestHeaders } from './headers.js';
import type { Cluster, Target } from './cluster.js';
import type { UpstreamHandler, UpstreamRequest } from './dispatch-handler.js';

export interface ProxyRoute {
  readonly cluster: Cluster;
  readonly rewrite: ((path: string) => string) | null;
  readonly preserveHost: boolean;
  readonly timeoutMs: number;
}

/** How a finished exchange is reported (access log, counters). */
export type ExchangeDone = (ctx: RequestContext) => void;
/** How the gateway answers with its own error. */
export type LocalError = (ctx: RequestContext, sink: ResponseSink, code: ErrorCode) => void;

class TimeoutError extends Error {
  readonly code = 'WICKET_ERR_UPSTREAM_TIMEOUT';
}

class ClientAbortError extends Error {
  readonly code = 'WICKET_ERR_CLIENT_ABORTED';
}

export class ProxyCall implements SinkListener, UpstreamHandler {
  readonly #ctx: RequestContext;
  readonly #sink: ResponseSink;
  readonly #done: ExchangeDone;
  readonly #fail: LocalError;
  #abort: ((err?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #paused = false;
  #finished = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(ctx: RequestContext, sink: ResponseSink, done: ExchangeDone, fail: LocalError) {
    this.#ctx = ctx;
    this.#sink = sink;
    this.#done = done;
    this.#fail = fail;
  }

  start(route: ProxyRoute, target: Target, proto: string): void {
    const ctx = this.#ctx;
    ctx.upstream = target.origin;
    this.#sink.setListener(this);
    const path = route.rewrite === null ? ctx.path : route.rewrite(ctx.path);
    const req: UpstreamRequest = {
      method: ctx.method,
      path: ctx.query === '' ? path : `${path}?${ctx.query}`,
      headers: upstreamRequestHeaders(ctx, { proto, host: route.preserveHost && ctx.host !== '' ? ctx.host : target.host }),
      body: ctx.body,
    };
    if (route.timeoutMs > 0) this.#timer = setTimeout(onTimeout, route.timeoutMs, this);
    target.pool.dispatch(req, this);
  }

  // --- undici handler, in order -------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#sink.aborted || this.#finished) abort(new ClientAbortError('client aborted'));
  }

  onHeaders(status: number, raw: (Buffer | string)[], resume: () => void): boolean {
    if (status < 200) return true; // 1xx informational: not forwarded
    this.#resume = resume;
    const sink = this.#sink;
    if (sink.aborted) return true;
    const skip = new Uint8Array(raw.length);
    const cl = scanResponseHeaders(raw, skip);
    const ctx = this.#ctx;
    ctx.status = status;
    const noBody = ctx.method === 'HEAD' || status === 204 || status === 304;
    sink.start(status, raw, skip, cl, noBody);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const sink = this.#sink;
    if (sink.aborted) return true;
    this.#ctx.bytesOut += chunk.length;
    if (sink.write(chunk)) return true;
    this.#paused = true;
    return false;
  }

  onComplete(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#sink.end();
    this.#finish();
  }

  onError(err: Error): void {
    // Marked first: cutting the client (sink.abort) re-enters via onSinkAbort.
    if (this.#finished) return;
    this.#finished = true;
    const sink = this.#sink;
    const ctx = this.#ctx;
    // Before any reply: destroying a paused body resumes its uWS response,
    // which must not happen after that response ended.
    ctx.body?.destroy();
    if (err instanceof ClientAbortError || sink.aborted) {
      ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
      if (ctx.status === 0) ctx.status = 499;
    } else {
      const code = upstreamErrorCode(err);
      if (!sink.started) {
        this.#fail(ctx, sink, code);
      } else {
        // Headers are out: the only honest signal left is a cut connection.
        ctx.errorCode = code;
        sink.abort();
      }
    }
    this.#finish();
  }

  // --- sink listener ---------------------------------------------------------

  onSinkDrain(): void {
    if (this.#paused) {
      this.#paused = false;
      this.#resume?.();
    }
  }

  onSinkAbort(): void {
    this.#abort?.(new ClientAbortError('client aborted'));
    this.#ctx.body?.destroy();
  }

  timeout(): void {
    this.#timer = null;
    this.#abort?.(new TimeoutError('route timeout'));
    if (this.#abort === null) this.onError(new TimeoutError('route timeout'));
  }

  #finish(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#sink.setListener(null);
    this.#done(this.#ctx);
  }
}

function onTimeout(call: ProxyCall): void {
  call.timeout();
}
