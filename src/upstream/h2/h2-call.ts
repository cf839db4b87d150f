// One exchange over an HTTP/2 upstream session (gRPC and anything else on an
// upstream with protocol h2). Phases in order: admit (breaker) -> select
// (balancer) -> request (headers, then the body streamed with backpressure)
// -> response (headers, data, trailers relayed as they come) -> done.
//
// gRPC: `grpc-timeout` is honoured (the call is cancelled upstream and the
// client gets DEADLINE_EXCEEDED) and propagated with the time already spent
// taken off; `te: trailers` is sent; a trailers-only answer stays
// trailers-only; a client that cancels (RST_STREAM) cancels the upstream
// stream; an upstream that resets a started response resets the client's.
// No retries: a streamed body cannot be sent twice, and gRPC retries belong
// to the client's retry policy.
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import type { RequestContext, ResponseSink, SinkListener } from '../../pipeline/context.js';
import type { ErrorCode } from '../../pipeline/errors.js';
import { GrpcStatus, formatGrpcTimeout, isGrpc, parseGrpcTimeout } from '../../pipeline/grpc.js';
import { admit, recordOutcome, releaseTrial, upstreamFilters, type Admitted } from '../admission.js';
import type { Target } from '../cluster.js';
import { upstreamRequestHeaders } from '../headers.js';
import type { ExchangeDone, LocalError, ProxyRoute } from '../proxy.js';
import { h2Sessions } from './sessions.js';

/** Request headers HTTP/2 forbids or that the call sets itself. */
const DROP = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings', 'grpc-timeout']);

/** Flat header list to an object for session.request; repeats joined (cookie with "; "). */
function requestHeaderObject(flat: string[], into: Record<string, string>): void {
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    if (DROP.has(k)) continue;
    const prev = into[k];
    into[k] = prev === undefined ? flat[i + 1]! : `${prev}${k === 'cookie' ? '; ' : ', '}${flat[i + 1]!}`;
  }
}

/** A response header object back to a flat list (pseudo-headers left out; Date too: every listener writes its own). */
function flat(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const k of Object.keys(h)) {
    if (k.charCodeAt(0) === 58 /* : */ || k === 'date') continue;
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else out.push(k, String(v));
  }
  return out;
}

export class H2Call implements SinkListener {
  readonly #ctx: RequestContext;
  readonly #sink: ResponseSink;
  readonly #done: ExchangeDone;
  readonly #fail: LocalError;
  readonly #grpc: boolean;
  #route: ProxyRoute | null = null;
  #target: Target | null = null;
  #admitted: Admitted | null = null;
  #stream: ClientHttp2Stream | null = null;
  #timer: NodeJS.Timeout | null = null;
  #trailers: string[] | null = null;
  #finished = false;
  #recorded = false;
  #startedAt = 0;
  /** The timer is the headers timeout only: cleared once the response starts. */
  #headersOnly = false;
  /** grpc-status of a trailers-only answer (in the response headers). */
  #headerStatus: string | undefined;

  constructor(ctx: RequestContext, sink: ResponseSink, done: ExchangeDone, fail: LocalError) {
    this.#ctx = ctx;
    this.#sink = sink;
    this.#done = done;
    this.#fail = fail;
    this.#grpc = isGrpc(ctx);
  }

  start(route: ProxyRoute): void {
    this.#route = route;
    const ctx = this.#ctx;
    const cluster = route.cluster;
    const store = cluster.store;
    this.#sink.setListener(this);
    const got = admit(cluster, ctx, null);
    if (typeof got === 'string') return this.#localFail(got);
    this.#admitted = got;
    const target = got.target;
    this.#target = target;
    ctx.attempts = 1;
    ctx.upstream = target.origin;
    store.begin(target.slot);

    // The deadline: the client's grpc-timeout, else the route's timeoutMs. A
    // plain HTTP exchange also has the upstream's headers timeout; a gRPC
    // stream without a deadline may rightly stay silent for a long time.
    const grpcMs = this.#grpc ? parseGrpcTimeout(ctx.header('grpc-timeout')) : undefined;
    const limit = grpcMs ?? (route.timeoutMs > 0 ? route.timeoutMs : this.#grpc ? 0 : cluster.headersTimeoutMs);
    const left = limit - (performance.now() - ctx.startedAt);
    if (limit > 0) {
      if (left <= 0) return this.#expire();
      this.#timer = setTimeout(() => this.#expire(), left);
      this.#headersOnly = grpcMs === undefined && !(route.timeoutMs > 0);
    }

    const path = route.rewrite === null ? ctx.path : route.rewrite(ctx.path);
    const headers: Record<string, string> = {
      ':method': ctx.method,
      ':path': ctx.query === '' ? path : `${path}?${ctx.query}`,
      ':scheme': target.origin.startsWith('https:') ? 'https' : 'http',
      ':authority': route.preserveHost && ctx.host !== '' ? ctx.host : target.host,
    };
    const flatHeaders = upstreamRequestHeaders(ctx, { proto: ctx.listener.scheme, host: target.host });
    if (!upstreamFilters(route, ctx, flatHeaders)) {
      this.#release(null);
      return this.#localFail('WICKET_ERR_INTERNAL');
    }
    requestHeaderObject(flatHeaders, headers);
    if (this.#grpc) {
      headers.te = 'trailers';
      if (grpcMs !== undefined) headers['grpc-timeout'] = formatGrpcTimeout(left);
    }
    this.#startedAt = performance.now();
    let stream: ClientHttp2Stream;
    try {
      stream = h2Sessions.get(target.origin, cluster.connectTimeoutMs).request(headers, { endStream: ctx.body === null });
    } catch {
      return this.#upstreamFailed('WICKET_ERR_UPSTREAM_CONNECT');
    }
    this.#stream = stream;
    stream.on('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => this.#onResponse(h));
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      this.#trailers = flat(t);
    });
    stream.on('data', (c: Buffer) => {
      this.#ctx.bytesOut += c.length;
      if (!this.#sink.write(c)) stream.pause();
    });
    stream.on('end', () => this.#onEnd());
    stream.on('error', (err: Error & { code?: string }) => this.#onError(err));
    stream.on('close', () => {
      // Reset by the upstream (RST_STREAM) without an error event, or closed before the end.
      if (!this.#finished) this.#onError(Object.assign(new Error(`upstream stream closed (code ${stream.rstCode})`), { code: 'ERR_HTTP2_STREAM_ERROR' }));
    });
    const body = ctx.body;
    if (body !== null) {
      body.on('data', (c: Buffer) => {
        if (!stream.write(c)) body.pause();
      });
      stream.on('drain', () => body.resume());
      body.once('end', () => stream.end());
      body.once('error', (e: Error & { code?: string }) => {
        if (this.#finished) return;
        if (e.code === 'WICKET_ERR_BODY_TOO_LARGE' || e.code === 'WICKET_ERR_MESSAGE_TOO_LARGE') {
          stream.close(constants.NGHTTP2_CANCEL);
          this.#release(null);
          if (!this.#sink.started) {
            this.#finished = true;
            this.#fail(this.#ctx, this.#sink, e.code);
            return this.#done(this.#ctx);
          }
          this.#sink.abort();
          return this.#finish();
        }
        // The client went away mid-body: onSinkAbort does the rest.
      });
    }
  }

  // --- upstream events, in order ---------------------------------------------

  #onResponse(h: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    if (this.#finished) return;
    const status = Number(h[':status'] ?? 502);
    if (this.#headersOnly && this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const gs = h['grpc-status'];
    this.#headerStatus = typeof gs === 'string' ? gs : undefined;
    const c = this.#route!.cluster;
    c.store.recordLatency(this.#target!.slot, (performance.now() - this.#startedAt) * 1000);
    this.#ctx.status = status;
    const cl = h['content-length'] === undefined ? -1 : Number(h['content-length']);
    // Trailers-only gRPC answers carry grpc-status here; nothing decides the outcome yet.
    this.#sink.start(status, flat(h), null, Number.isFinite(cl) ? cl : -1, this.#ctx.method === 'HEAD' || status === 204 || status === 304);
  }

  #onEnd(): void {
    if (this.#finished) return;
    const status = this.#ctx.status;
    const grpcStatus = this.#grpc ? Number(trailer(this.#trailers, 'grpc-status') ?? this.#headerStatus ?? 0) : 0;
    // UNAVAILABLE from a gRPC server is its own failure report; other statuses are answers.
    this.#release(status < 500 && grpcStatus !== GrpcStatus.UNAVAILABLE);
    this.#finished = true;
    this.#sink.end(this.#trailers);
    this.#finish();
  }

  #onError(err: Error & { code?: string }): void {
    if (this.#finished) return;
    const timeout = err.code === 'WICKET_ERR_UPSTREAM_TIMEOUT';
    const refused = /ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|connect/i.test(`${err.code} ${err.message}`) && !this.#sink.started;
    this.#upstreamFailed(timeout ? 'WICKET_ERR_UPSTREAM_TIMEOUT' : refused ? 'WICKET_ERR_UPSTREAM_CONNECT' : 'WICKET_ERR_UPSTREAM_RESET');
  }

  #upstreamFailed(code: ErrorCode): void {
    this.#release(false);
    this.#finished = true;
    this.#ctx.body?.destroy();
    if (!this.#sink.started) this.#fail(this.#ctx, this.#sink, code);
    else {
      this.#ctx.errorCode = code;
      this.#sink.abort();
    }
    this.#finish();
  }

  /** The deadline passed: cancel upstream, DEADLINE_EXCEEDED (gRPC) or 504 to the client. */
  #expire(): void {
    this.#timer = null;
    if (this.#finished) return;
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    this.#release(false);
    this.#finished = true;
    this.#ctx.body?.destroy();
    const ctx = this.#ctx;
    if (!this.#sink.started) this.#fail(ctx, this.#sink, 'WICKET_ERR_UPSTREAM_TIMEOUT');
    else if (this.#grpc) {
      ctx.errorCode = 'WICKET_ERR_UPSTREAM_TIMEOUT';
      this.#sink.end(['grpc-status', String(GrpcStatus.DEADLINE_EXCEEDED), 'grpc-message', 'deadline exceeded at the gateway']);
    } else {
      ctx.errorCode = 'WICKET_ERR_UPSTREAM_TIMEOUT';
      this.#sink.abort();
    }
    this.#finish();
  }

  // --- client side ---------------------------------------------------------------

  onSinkDrain(): void {
    this.#stream?.resume();
  }

  /** The client cancelled (RST_STREAM or closed): the upstream stream is cancelled too. */
  onSinkAbort(): void {
    if (this.#finished) return;
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    const c = this.#route?.cluster;
    if (c && this.#admitted !== null && !this.#recorded) {
      this.#recorded = true;
      releaseTrial(c, this.#admitted);
    }
    this.#release(null);
    this.#finished = true;
    this.#ctx.body?.destroy();
    this.#ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
    if (this.#ctx.status === 0) this.#ctx.status = 499;
    this.#finish();
  }

  // --- bookkeeping -------------------------------------------------------------------

  #localFail(code: ErrorCode): void {
    this.#finished = true;
    this.#ctx.body?.destroy();
    this.#fail(this.#ctx, this.#sink, code);
    this.#finish();
  }

  /** In-flight count, latency and outcome (null: no verdict on the upstream), once. */
  #release(ok: boolean | null): void {
    const t = this.#target;
    if (t === null) return;
    this.#target = null;
    const c = this.#route!.cluster;
    c.store.end(t.slot);
    if (ok === null || this.#recorded) return;
    this.#recorded = true;
    recordOutcome(c, this.#admitted!, ok);
  }

  #finish(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#sink.setListener(null);
    this.#done(this.#ctx);
  }
}

function trailer(t: string[] | null, name: string): string | undefined {
  if (t === null) return undefined;
  for (let i = 0; i < t.length; i += 2) if (t[i] === name) return t[i + 1];
  return undefined;
}
