// The one upstream call path, whatever the target speaks (HTTP/1.1 through
// Wicket's client or undici, HTTP/2 and gRPC through H2Dispatcher): admit
// (circuit breaker) -> select (the cluster's balancer over shared counters)
// -> onUpstreamRequest filters -> dispatch a try -> relay, with retries of
// failed tries on another target while nothing has reached the client
// (requests with a body, gRPC ones included, are never retried). ProxyCall is the sink's listener (drain, client abort); each try is
// an Attempt, the upstream client's handler (callbacks in the order they
// happen: onConnect, onHeaders, onData*, onComplete | onError). Events of a
// try that was given up are ignored. Every try is counted in shared memory
// (in-flight, latency, outcome), so balancers, outlier detection and the
// breaker in every worker see it.
import type { ResolvedRetry } from '../config/load.js';
import type { RequestContext, ResponseSink, SinkListener } from '../pipeline/context.js';
import { ClientAbortedError, upstreamErrorCode, type ErrorCode } from '../pipeline/errors.js';
import { GrpcStatus, formatGrpcTimeout, grpcStatusIn, parseGrpcTimeout } from '../pipeline/grpc.js';
import { IDEMPOTENT, UPSTREAM_FAULTS, retryWanted } from './retry-policy.js';
import type { Filter } from '../pipeline/filter.js';
import { admit, recordOutcome, releaseTrial, upstreamFilters, type Admitted } from './admission.js';
import { scanResponseHeaders, upstreamRequestHeaders } from './headers.js';
import type { Cluster, Target } from './cluster.js';
import type { UpstreamHandler, UpstreamRequest } from './dispatch-handler.js';

export interface ProxyRoute {
  readonly cluster: Cluster;
  readonly rewrite: ((path: string) => string) | null;
  readonly preserveHost: boolean;
  readonly timeoutMs: number;
  readonly retry: ResolvedRetry | null;
  /** The route's onUpstreamRequest filters (null: none). */
  readonly onUpstreamRequest: readonly Filter[] | null;
  /** A request body with a Content-Length up to this is read whole before the upstream is called (limits.requestBufferBytes). */
  readonly requestBufferBytes: number;
  /** Response bytes held for a slow client before the upstream is paused (limits.responseBufferBytes). */
  readonly responseBufferBytes: number;
}

/**
 * Response bytes held for slow clients by all of this worker's exchanges,
 * and the most they may hold together (limits.responseBufferTotalBytes, set
 * by each route table).
 */
export const responseBuffers = { limit: 128 * 1024 * 1024, used: 0 };

/** How a finished exchange is reported (access log, counters). */
export type ExchangeDone = (ctx: RequestContext) => void;
/** How the gateway answers with its own error. */
export type LocalError = (ctx: RequestContext, sink: ResponseSink, code: ErrorCode) => void;

class TimeoutError extends Error {
  readonly code = 'WICKET_ERR_UPSTREAM_TIMEOUT';
}

/** A try's own time to headers ran out (the route's total time did not). */
class TryTimeoutError extends TimeoutError {}

/** A try given up for a retry (its late events are ignored). */
class RetryAbort extends Error {
  readonly code = 'WICKET_ERR_RETRY';
}


/** One try against one target: forwards the client's callbacks to its call. */
class Attempt implements UpstreamHandler {
  abort: ((err?: Error) => void) | null = null;
  resume: (() => void) | null = null;
  /** performance.now() at dispatch. */
  readonly startedAt = performance.now();
  /** Outcome already counted (breaker, outlier detection). */
  recorded = false;
  ended = false;
  timer: NodeJS.Timeout | null = null;

  readonly target: Target;

  constructor(
    readonly call: ProxyCall,
    readonly admitted: Admitted,
    readonly retry: boolean,
  ) {
    this.target = admitted.target;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    this.call.onConnect(this);
  }
  onHeaders(status: number, raw: (Buffer | string)[], resume: () => void): boolean {
    return this.call.onHeaders(this, status, raw, resume);
  }
  onData(chunk: Buffer): boolean {
    return this.call.onData(this, chunk);
  }
  onComplete(trailers: unknown): void {
    this.call.onComplete(this, (trailers as (Buffer | string)[] | null) ?? null);
  }
  onError(err: Error): void {
    this.call.onError(this, err);
  }
}

export class ProxyCall implements SinkListener {
  readonly #ctx: RequestContext;
  readonly #sink: ResponseSink;
  readonly #done: ExchangeDone;
  readonly #fail: LocalError;
  #route: ProxyRoute | null = null;
  #current: Attempt | null = null;
  #tried: Target[] | null = null;
  #paused = false;
  /** Chunks the client was not ready for, held here (null: the sink takes writes). */
  #held: Buffer[] | null = null;
  #heldBytes = 0;
  /** The upstream completed while chunks were held: the sink ends once they are written. */
  #endPending: readonly string[] | null | undefined;
  #finished = false;
  #expired = false;
  #timer: NodeJS.Timeout | null = null;
  #backoff: NodeJS.Timeout | null = null;
  /** A gRPC call (gRPC-Web included, once translated): its deadline and status decide. */
  #grpc = false;
  /** The client's grpc-timeout in ms, passed upstream with the time spent taken off. */
  #grpcDeadline: number | undefined;
  /** grpc-status of a trailers-only answer (in the response headers). */
  #headerStatus: string | undefined;

  constructor(ctx: RequestContext, sink: ResponseSink, done: ExchangeDone, fail: LocalError) {
    this.#ctx = ctx;
    this.#sink = sink;
    this.#done = done;
    this.#fail = fail;
  }

  start(route: ProxyRoute): void {
    this.#route = route;
    this.#sink.setListener(this);
    const ctx = this.#ctx;
    let limit = route.timeoutMs;
    if (ctx.grpc) {
      // The client's deadline, else the route's; counted from the request's arrival.
      this.#grpc = true;
      this.#grpcDeadline = parseGrpcTimeout(ctx.header('grpc-timeout'));
      if (this.#grpcDeadline !== undefined) limit = this.#grpcDeadline;
      if (limit > 0) limit -= performance.now() - ctx.startedAt;
      if (limit <= 0 && (this.#grpcDeadline !== undefined || route.timeoutMs > 0)) {
        this.#expired = true;
        return this.#localFail('WICKET_ERR_UPSTREAM_TIMEOUT');
      }
    }
    if (limit > 0) this.#timer = setTimeout(onTimeout, limit, this);
    this.#try();
  }

  /** admit -> select -> dispatch one try. */
  #try(): void {
    const route = this.#route!;
    const ctx = this.#ctx;
    const cluster = route.cluster;
    const store = cluster.store;
    const got = admit(cluster, ctx, this.#tried);
    if (typeof got === 'string') return this.#localFail(got);
    const target = got.target;
    const retry = ctx.attempts > 0;
    ctx.attempts++;
    ctx.upstream = target.origin;
    const a = new Attempt(this, got, retry);
    this.#current = a;
    store.begin(target.slot);
    if (retry) store.retryBegin(target.slot);
    const perTry = route.retry?.perTryTimeoutMs;
    if (perTry !== undefined) a.timer = setTimeout(onTryTimeout, perTry, a);
    const path = route.rewrite === null ? ctx.path : route.rewrite(ctx.path);
    const headers = upstreamRequestHeaders(ctx, { proto: ctx.listener.scheme, host: route.preserveHost && ctx.host !== '' ? ctx.host : target.host });
    if (this.#grpc) {
      // The deadline goes upstream with the time spent taken off; a malformed one does not go at all.
      const left = this.#grpcDeadline === undefined ? null : formatGrpcTimeout(this.#grpcDeadline - (performance.now() - ctx.startedAt));
      for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (headers[i] !== 'grpc-timeout') continue;
        if (left === null) headers.splice(i, 2);
        else headers[i + 1] = left;
      }
    }
    if (!upstreamFilters(route, ctx, headers)) {
      this.#end(a);
      releaseTrial(cluster, got);
      return this.#localFail('WICKET_ERR_INTERNAL');
    }
    const req: UpstreamRequest = {
      method: ctx.method,
      path: ctx.query === '' ? path : `${path}?${ctx.query}`,
      headers,
      body: ctx.body,
    };
    target.pool.dispatch(req, a);
  }

  // --- the current try's callbacks, in order ---------------------------------

  onConnect(a: Attempt): void {
    if (a !== this.#current) return a.abort!(new RetryAbort('superseded'));
    if (this.#sink.aborted || this.#finished) a.abort!(new ClientAbortedError('client aborted'));
  }

  onHeaders(a: Attempt, status: number, raw: (Buffer | string)[], resume: () => void): boolean {
    if (a !== this.#current || status < 200) return true; // 1xx informational: not forwarded
    if (a.timer !== null) {
      clearTimeout(a.timer);
      a.timer = null;
    }
    const cluster = this.#route!.cluster;
    cluster.store.recordLatency(a.target.slot, (performance.now() - a.startedAt) * 1000);
    const failed = status >= 500;
    // A gRPC call's verdict is its grpc-status, known at the end (or now, for a trailers-only answer).
    if (this.#grpc && !failed) this.#headerStatus = grpcStatusIn(raw);
    else this.#record(a, !failed, failed && !cluster.eject5xx);
    if (failed && this.#mayRetry(status, null, null)) {
      this.#retry(a);
      return true;
    }
    a.resume = resume;
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

  onData(a: Attempt, chunk: Buffer): boolean {
    const sink = this.#sink;
    if (a !== this.#current || sink.aborted) return true;
    this.#ctx.bytesOut += chunk.length;
    if (this.#held !== null) return this.#hold(chunk);
    if (sink.write(chunk)) return true;
    // A slow client: hold what follows here, so the upstream can finish and
    // free its connection; pause it only past the buffer (or the worker's budget).
    this.#held = [];
    return this.#room();
  }

  #hold(chunk: Buffer): boolean {
    this.#held!.push(chunk);
    this.#heldBytes += chunk.length;
    responseBuffers.used += chunk.length;
    return this.#room();
  }

  #room(): boolean {
    if (this.#heldBytes < this.#route!.responseBufferBytes && responseBuffers.used < responseBuffers.limit) return true;
    this.#paused = true;
    return false;
  }

  /** The client took what it had: write held chunks until it is full again. True when none is left. */
  #flush(): boolean {
    const held = this.#held;
    if (held === null) return true;
    const sink = this.#sink;
    while (held.length > 0) {
      const c = held.shift()!;
      this.#heldBytes -= c.length;
      responseBuffers.used -= c.length;
      if (!sink.write(c)) return false;
    }
    this.#held = null;
    return true;
  }

  #releaseHeld(): void {
    responseBuffers.used -= this.#heldBytes;
    this.#heldBytes = 0;
    this.#held = null;
  }

  onComplete(a: Attempt, trailers: readonly (Buffer | string)[] | null): void {
    this.#end(a);
    if (a !== this.#current || this.#finished) return;
    const t = trailers === null || trailers.length === 0 ? null : trailers.map(String);
    // UNAVAILABLE from a gRPC server is its own failure report; other statuses are answers.
    const ok = !this.#grpc || Number((t === null ? undefined : grpcStatusIn(t)) ?? this.#headerStatus ?? 0) !== GrpcStatus.UNAVAILABLE;
    this.#record(a, ok, false);
    this.#finished = true;
    if (this.#held !== null) {
      // The upstream is done (its connection freed); the client still has held bytes to take.
      this.#endPending = t;
      this.#current = null;
      return;
    }
    this.#sink.end(t);
    this.#finish();
  }

  onError(a: Attempt, err: Error): void {
    this.#end(a);
    if (a !== this.#current || err instanceof RetryAbort) return;
    // Marked first: cutting the client (sink.abort) re-enters via onSinkAbort.
    if (this.#finished) return;
    const sink = this.#sink;
    const ctx = this.#ctx;
    // The client went away (its sink, or its body reader saw it first): no verdict on the upstream.
    if (sink.aborted || (err as { code?: string }).code === 'WICKET_ERR_CLIENT_ABORTED') {
      if (!a.recorded) releaseTrial(this.#route!.cluster, a.admitted);
      this.#finished = true;
      ctx.body?.destroy();
      ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
      if (ctx.status === 0) ctx.status = 499;
      return this.#finish();
    }
    const code = upstreamErrorCode(err);
    if (UPSTREAM_FAULTS.has(code)) this.#record(a, false, false);
    else if (!a.recorded) {
      // The client's fault (body too large, bad bytes): no verdict on the upstream.
      a.recorded = true;
      releaseTrial(this.#route!.cluster, a.admitted);
    }
    if (!sink.started && this.#mayRetry(0, code, err)) return this.#retry(a);
    this.#finished = true;
    // Before any reply: destroying a paused body resumes its uWS response,
    // which must not happen after that response ended.
    ctx.body?.destroy();
    if (!sink.committed) {
      // Nothing reached the client (headers may have come from the upstream, but no byte went out): an honest error.
      this.#fail(ctx, sink, code);
    } else if (this.#grpc && code === 'WICKET_ERR_UPSTREAM_TIMEOUT' && this.#held === null) {
      // A started gRPC answer still ends properly: its trailers say why.
      // (With bytes still held the last message would be cut before them: then the stream is reset.)
      ctx.errorCode = code;
      sink.end(['grpc-status', String(GrpcStatus.DEADLINE_EXCEEDED), 'grpc-message', 'deadline exceeded at the gateway']);
    } else {
      // Headers are out: the only honest signal left is a cut connection.
      ctx.errorCode = code;
      sink.abort();
    }
    this.#finish();
  }

  // --- outcome, retries --------------------------------------------------------

  /** Counts a try's outcome once: breaker always, outlier detection unless `skipEject`. */
  #record(a: Attempt, ok: boolean, skipEject: boolean): void {
    if (a.recorded) return;
    a.recorded = true;
    recordOutcome(this.#route!.cluster, a.admitted, ok, skipEject);
  }

  /** In-flight counts drop exactly once per try. */
  #end(a: Attempt): void {
    if (a.ended) return;
    a.ended = true;
    if (a.timer !== null) clearTimeout(a.timer);
    const store = this.#route!.cluster.store;
    store.end(a.target.slot);
    if (a.retry) store.retryEnd(a.target.slot);
  }

  /** Whether a failed try (a 5xx `status`, or an error `code`/`err`) may be tried again. */
  #mayRetry(status: number, code: ErrorCode | null, err: Error | null): boolean {
    const p = this.#route!.retry;
    const ctx = this.#ctx;
    if (p === null || this.#expired || this.#sink.aborted || ctx.attempts > p.attempts) return false;
    // A streamed request body can't be sent twice.
    if (ctx.body !== null) return false;
    if (!p.nonIdempotent && !IDEMPOTENT.has(ctx.method)) return false;
    if (!retryWanted(p, status, code, err)) return false;
    // Budget: retries in flight stay under a share of the upstream's live requests.
    const c = this.#route!.cluster;
    let live = 0;
    let retrying = 0;
    for (const t of c.targets) {
      live += c.store.active(t.slot);
      retrying += c.store.retrying(t.slot);
    }
    if (retrying >= Math.max(p.budgetMin, p.budgetRatio * live)) {
      c.store.count('retriesDeniedByBudget');
      return false;
    }
    return true;
  }

  #retry(a: Attempt): void {
    const store = this.#route!.cluster.store;
    store.count('retries');
    (this.#tried ??= []).push(a.target);
    this.#current = null;
    if (a.abort !== null) a.abort(new RetryAbort('retrying'));
    const p = this.#route!.retry!;
    // Full jitter over an exponential step, capped at ten base steps.
    const delay = Math.random() * Math.min(p.backoffMs * 2 ** (this.#ctx.attempts - 1), p.backoffMs * 10);
    if (delay < 1) return this.#try();
    this.#backoff = setTimeout(() => {
      this.#backoff = null;
      if (!this.#finished) this.#try();
    }, delay);
  }

  #localFail(code: ErrorCode): void {
    this.#finished = true;
    this.#current = null;
    this.#ctx.body?.destroy();
    this.#fail(this.#ctx, this.#sink, code);
    this.#finish();
  }

  // --- sink listener ---------------------------------------------------------

  onSinkDrain(): void {
    if (!this.#flush()) return;
    if (this.#endPending !== undefined) {
      const t = this.#endPending;
      this.#endPending = undefined;
      this.#sink.end(t);
      return this.#finish();
    }
    if (this.#paused) {
      this.#paused = false;
      this.#current?.resume?.();
    }
  }

  onSinkAbort(): void {
    if (this.#endPending !== undefined) {
      // Left before taking the held end of an answer the upstream had completed.
      this.#endPending = undefined;
      this.#ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
      return this.#finish();
    }
    const a = this.#current;
    if (a !== null && a.abort !== null) a.abort(new ClientAbortedError('client aborted'));
    this.#ctx.body?.destroy();
    if (a === null && !this.#finished) {
      // Between tries (backoff): nothing upstream to wait for.
      this.#finished = true;
      this.#ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
      this.#ctx.status = 499;
      this.#finish();
    }
  }

  /** The route's total time is up: no more retries. */
  timeout(): void {
    this.#timer = null;
    this.#expired = true;
    if (this.#endPending !== undefined) {
      // The upstream finished long ago; the client never took the held rest of the answer: cut it.
      this.#endPending = undefined;
      this.#ctx.errorCode = 'WICKET_ERR_UPSTREAM_TIMEOUT';
      this.#sink.abort();
      return this.#finish();
    }
    const a = this.#current;
    if (a === null) {
      if (!this.#finished) this.#localFail('WICKET_ERR_UPSTREAM_TIMEOUT');
      return;
    }
    if (a.abort !== null) a.abort(new TimeoutError('route timeout'));
    else this.onError(a, new TimeoutError('route timeout'));
  }

  /** A try's own time to headers is up: it fails (and may be retried). */
  tryTimeout(a: Attempt): void {
    a.timer = null;
    if (a !== this.#current) return;
    if (a.abort !== null) a.abort(new TryTimeoutError('try timeout'));
    else this.onError(a, new TryTimeoutError('try timeout'));
  }

  #finish(): void {
    this.#releaseHeld();
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#backoff !== null) clearTimeout(this.#backoff);
    this.#sink.setListener(null);
    this.#done(this.#ctx);
  }
}

function onTimeout(call: ProxyCall): void {
  call.timeout();
}

function onTryTimeout(a: Attempt): void {
  a.call.tryTimeout(a);
}
