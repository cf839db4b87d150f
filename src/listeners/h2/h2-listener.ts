// HTTP/2 on node:http2 (uWS v20.30 has none): cleartext h2c with prior
// knowledge, and TLS with ALPN h2 plus HTTP/1.1 on the same port. Each
// request becomes a RequestContext and a sink and runs the same phases and
// route table as the uWS listener. HTTP/2 streams are taken from the core
// 'stream' event (node's compatibility objects are not made); HTTP/1.1 on the
// TLS port comes as node:http's 'request'. The servers listen the ordinary
// cluster way (the supervisor shares the port with every worker).
//
// Limits: max concurrent streams and header list size are HTTP/2 SETTINGS
// enforced by nghttp2; rapid reset (CVE-2023-44487) is counted here: a
// connection whose client resets more than `maxResets` streams in 10 s gets
// GOAWAY(ENHANCE_YOUR_CALM) and is closed.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Readable } from 'node:stream';
import { RequestContext, type ResponseSink } from '../../pipeline/context.js';
import { ERRORS, errorBody, type ErrorCode } from '../../pipeline/errors.js';
import { grpcFail, isGrpc } from '../../pipeline/grpc.js';
import { runPhases, type Phases } from '../../pipeline/phases.js';
import { hostnameOf, normalizePath } from '../../routing/normalize.js';
import { startProxy } from '../../upstream/start-proxy.js';
import type { ListenerHost } from '../uws/http-listener.js';
import { H2Sink, Http1Sink, resetByGateway, type StreamWatch } from './sink.js';
import { StreamBody } from './stream-body.js';

export interface H2ListenerOptions {
  h2c?: { host: string; port: number };
  https?: { host: string; port: number; cert: string; key: string };
  maxHeaderBytes: number;
  maxUrlLength: number;
  maxConcurrentStreams: number;
  maxResets: number;
}

const RESET_WINDOW_MS = 10_000;
const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** One client connection: its address (read once) and its rapid-reset count. */
class SessionState implements StreamWatch {
  readonly remote: string;
  readonly #session: ServerHttp2Session;
  readonly #max: number;
  #windowStart = Date.now();
  #resets = 0;

  constructor(session: ServerHttp2Session, max: number) {
    this.#session = session;
    this.#max = max;
    this.remote = session.socket?.remoteAddress ?? '';
  }

  /** A stream that closed with an error code the gateway did not send: the client reset it. */
  closed(stream: ServerHttp2Stream): void {
    if (stream.rstCode === constants.NGHTTP2_NO_ERROR || resetByGateway.has(stream)) return;
    const now = Date.now();
    if (now - this.#windowStart > RESET_WINDOW_MS) {
      this.#windowStart = now;
      this.#resets = 0;
    }
    if (++this.#resets > this.#max && !this.#session.destroyed) {
      // destroy(err, code) sends GOAWAY with that code and drops the connection.
      this.#session.destroy(new Error('rapid reset'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }
}

export class H2Listener {
  readonly #opts: H2ListenerOptions;
  readonly #host: ListenerHost;
  readonly #servers: (Http2Server | Http2SecureServer)[] = [];
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();
  readonly #idPrefix = `${process.pid.toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}h-`;
  #seq = 0;

  constructor(opts: H2ListenerOptions, host: ListenerHost) {
    this.#opts = opts;
    this.#host = host;
  }

  async listen(): Promise<void> {
    const o = this.#opts;
    const settings = { maxConcurrentStreams: o.maxConcurrentStreams, maxHeaderListSize: o.maxHeaderBytes, enablePush: false };
    const common = { settings, maxHeaderListPairs: 256, maxSessionMemory: 10 };
    if (o.h2c) {
      const s = http2.createServer(common);
      this.#serve(s);
      await listenOn(s, o.h2c.host, o.h2c.port);
      this.#servers.push(s);
    }
    if (o.https) {
      const s = http2.createSecureServer({ ...common, cert: readFileSync(o.https.cert), key: readFileSync(o.https.key), allowHTTP1: true });
      // HTTP/1.1 clients (ALPN http/1.1) arrive as 'request'. Adding that
      // listener makes node set up its compatibility layer for HTTP/2 streams
      // too (a 'stream' listener of its own): take it off, streams are ours.
      s.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onHttp1(req, res));
      for (const l of s.listeners('stream')) s.off('stream', l as (...a: unknown[]) => void);
      this.#serve(s);
      await listenOn(s, o.https.host, o.https.port);
      this.#servers.push(s);
    }
  }

  /** Stops accepting; open sessions get GOAWAY and finish their streams. */
  close(): void {
    for (const s of this.#servers) s.close();
    for (const s of this.#sessions.keys()) s.close();
  }

  /** HTTP/2 streams, per-session state, and no unhandled session errors. */
  #serve(server: Http2Server | Http2SecureServer): void {
    const max = this.#opts.maxResets;
    server.on('session', (session: ServerHttp2Session) => {
      session.on('error', () => {});
      this.#sessions.set(session, new SessionState(session, max));
      session.once('close', () => this.#sessions.delete(session));
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => this.#onStream(stream, headers, raw));
    server.on('sessionError', () => {});
    server.on('tlsClientError', () => {});
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: string[]): void {
    this.#host.begin();
    const ctx = new RequestContext(performance.now());
    const session = stream.session as ServerHttp2Session;
    const st = this.#sessions.get(session) ?? new SessionState(session, this.#opts.maxResets);
    const sink = new H2Sink(stream, st);
    ctx.method = headers[':method'] ?? 'GET';
    let bytes = 0;
    // Names arrive lower-case (HTTP/2 forbids anything else; nghttp2 enforces it).
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      bytes += k.length + raw[i + 1]!.length + 4;
      if (k.charCodeAt(0) === 58 /* : */) continue;
      ctx.headers.push(k, raw[i + 1]!);
    }
    ctx.remoteAddress = st.remote;
    ctx.host = headers[':authority'] ?? ctx.header('host') ?? '';
    this.#dispatch(ctx, sink, headers[':path'] ?? '/', bytes, !stream.endAfterHeaders, stream);
  }

  #onHttp1(req: IncomingMessage, res: ServerResponse): void {
    this.#host.begin();
    const ctx = new RequestContext(performance.now());
    const sink = new Http1Sink(res);
    ctx.method = req.method ?? 'GET';
    const raw = req.rawHeaders;
    let bytes = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      bytes += k.length + raw[i + 1]!.length + 4;
      ctx.headers.push(k.toLowerCase(), raw[i + 1]!);
    }
    ctx.remoteAddress = req.socket?.remoteAddress ?? '';
    ctx.host = ctx.header('host') ?? '';
    const hasBody = ctx.header('content-length') !== undefined || ctx.header('transfer-encoding') !== undefined;
    this.#dispatch(ctx, sink, req.url ?? '/', bytes, hasBody, req);
  }

  /** Both protocols from here on: limits, framing, routing, the body, the phases. */
  #dispatch(ctx: RequestContext, sink: H2Sink | Http1Sink, url: string, bytes: number, hasBody: boolean, src: Readable): void {
    if (ctx.method === 'HEAD') sink.head = true;
    const rid = ctx.header('x-request-id');
    ctx.requestId = rid !== undefined && REQUEST_ID.test(rid) ? rid : this.#idPrefix + (++this.#seq).toString(36);
    ctx.hostname = hostnameOf(ctx.host);
    const q = url.indexOf('?');
    ctx.query = q < 0 ? '' : url.slice(q + 1);

    const o = this.#opts;
    if (url.length > o.maxUrlLength) return this.#fail(ctx, sink, 'WICKET_ERR_URI_TOO_LONG');
    if (bytes > o.maxHeaderBytes) return this.#fail(ctx, sink, 'WICKET_ERR_HEADERS_TOO_LARGE');
    if (ctx.method === 'CONNECT') return this.#fail(ctx, sink, 'WICKET_ERR_METHOD_NOT_ALLOWED');
    const cl = ctx.header('content-length');
    if (cl !== undefined) {
      if (!/^\d{1,15}$/.test(cl)) return this.#fail(ctx, sink, 'WICKET_ERR_BAD_FRAMING');
      ctx.contentLength = Number(cl);
    }
    // A body with no length: HTTP/2 DATA frames (or HTTP/1.1 chunked), sent upstream chunked.
    ctx.chunked = hasBody && ctx.contentLength < 0;
    const path = normalizePath(q < 0 ? url : url.slice(0, q));
    if (path === null) return this.#fail(ctx, sink, 'WICKET_ERR_BAD_REQUEST');
    ctx.path = path;

    const route = this.#host.table().router.find(ctx);
    if (route === null) return this.#fail(ctx, sink, 'WICKET_ERR_ROUTE_NOT_FOUND');
    if (route.proxy !== null && hasBody) {
      if (ctx.contentLength > route.maxBodyBytes) return this.#fail(ctx, sink, 'WICKET_ERR_BODY_TOO_LARGE');
      // HTTP/1.1 (node:http) answers Expect itself; on HTTP/2 the 100 goes out when the proxy first reads the body.
      const expect = sink instanceof H2Sink && ctx.header('expect')?.toLowerCase() === '100-continue';
      ctx.body = new StreamBody(src, route.maxBodyBytes, expect ? () => (sink as H2Sink).sendContinue() : null);
    }
    runPhases(ctx, sink, route, this.#phases);
  }

  readonly #phases: Phases = {
    fail: (ctx, sink, code) => this.#failFn(ctx, sink, code),
    done: (ctx) => this.#host.done(ctx),
    proxy: (ctx, sink, route) => startProxy(ctx, sink, route.proxy!, this.#host.done, this.#failFn),
  };

  /** The gateway's own error: JSON, or for a gRPC request a trailers-only gRPC status. */
  readonly #failFn = (ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void => {
    if (isGrpc(ctx)) return grpcFail(ctx, sink, code);
    const spec = ERRORS[code];
    ctx.errorCode = code;
    ctx.status = spec.status;
    const body = errorBody(code, ctx.requestId);
    ctx.bytesOut = body.length;
    const headers = ['content-type', 'application/json', 'x-request-id', ctx.requestId];
    if (ctx.retryAfter > 0) headers.push('retry-after', String(ctx.retryAfter));
    sink.reply(spec.status, headers, body, 'close' in spec && spec.close === true);
  };

  #fail(ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void {
    this.#failFn(ctx, sink, code);
    this.#host.done(ctx);
  }
}

function listenOn(s: Http2Server | Http2SecureServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      resolve();
    });
  });
}
