// HTTP/2 on node:http2 (uWS v20.30 has none): cleartext h2c with prior
// knowledge, and TLS with ALPN h2 plus HTTP/1.1 on the same port. Each
// request becomes a RequestContext and an H2Sink and runs the same phases and
// route table as the uWS listener. The servers listen the ordinary cluster
// way (the supervisor shares the port with every worker).
//
// Limits: max concurrent streams and header list size are HTTP/2 SETTINGS
// enforced by nghttp2; rapid reset (CVE-2023-44487) is counted here: a
// connection whose client resets more than `maxResets` streams in 10 s gets
// GOAWAY(ENHANCE_YOUR_CALM) and is closed.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, { constants, type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import { RequestContext, type ResponseSink } from '../../pipeline/context.js';
import { ERRORS, errorBody, type ErrorCode } from '../../pipeline/errors.js';
import { grpcFail, isGrpc } from '../../pipeline/grpc.js';
import { runPhases, type Phases } from '../../pipeline/phases.js';
import { hostnameOf, normalizePath } from '../../routing/normalize.js';
import { startProxy } from '../../upstream/start-proxy.js';
import type { ListenerHost } from '../uws/http-listener.js';
import { H2Sink, resetByGateway } from './sink.js';
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

type Req = Http2ServerRequest | IncomingMessage;
type Res = Http2ServerResponse | ServerResponse;

export class H2Listener {
  readonly #opts: H2ListenerOptions;
  readonly #host: ListenerHost;
  readonly #servers: (Http2Server | Http2SecureServer)[] = [];
  readonly #sessions = new Set<ServerHttp2Session>();
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
    const onRequest = (req: Req, res: Res): void => this.#onRequest(req, res);
    if (o.h2c) {
      const s = http2.createServer(common, onRequest);
      this.#guard(s);
      await listenOn(s, o.h2c.host, o.h2c.port);
      this.#servers.push(s);
    }
    if (o.https) {
      const s = http2.createSecureServer(
        { ...common, cert: readFileSync(o.https.cert), key: readFileSync(o.https.key), allowHTTP1: true },
        onRequest,
      );
      this.#guard(s);
      await listenOn(s, o.https.host, o.https.port);
      this.#servers.push(s);
    }
  }

  /** Stops accepting; open sessions get GOAWAY and finish their streams. */
  close(): void {
    for (const s of this.#servers) s.close();
    for (const s of this.#sessions) s.close();
  }

  /** Per-session rapid-reset accounting, and no unhandled session errors. */
  #guard(server: Http2Server | Http2SecureServer): void {
    const max = this.#opts.maxResets;
    server.on('session', (session: ServerHttp2Session) => {
      session.on('error', () => {});
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      let windowStart = Date.now();
      let resets = 0;
      session.on('stream', (stream) => {
        stream.on('close', () => {
          // A stream that closed with an error code the gateway did not send: the client reset it.
          if (stream.rstCode === constants.NGHTTP2_NO_ERROR || resetByGateway.has(stream)) return;
          const now = Date.now();
          if (now - windowStart > RESET_WINDOW_MS) {
            windowStart = now;
            resets = 0;
          }
          if (++resets > max && !session.destroyed) {
            // destroy(err, code) sends GOAWAY with that code and drops the connection.
            session.destroy(new Error('rapid reset'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
          }
        });
      });
    });
    server.on('sessionError', () => {});
    server.on('tlsClientError', () => {});
  }

  #onRequest(req: Req, res: Res): void {
    const host = this.#host;
    host.begin();
    const h2 = req.httpVersionMajor === 2;
    const ctx = new RequestContext(performance.now());
    const sink = new H2Sink(res, h2);
    ctx.method = req.method ?? 'GET';
    if (ctx.method === 'HEAD') sink.head = true;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    ctx.query = q < 0 ? '' : url.slice(q + 1);
    const raw = req.rawHeaders;
    let bytes = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      bytes += k.length + raw[i + 1]!.length + 4;
      if (k.charCodeAt(0) === 58 /* : */) continue;
      ctx.headers.push(h2 ? k : k.toLowerCase(), raw[i + 1]!);
    }
    const rid = ctx.header('x-request-id');
    ctx.requestId = rid !== undefined && REQUEST_ID.test(rid) ? rid : this.#idPrefix + (++this.#seq).toString(36);
    ctx.remoteAddress = (req.socket as Socket | undefined)?.remoteAddress ?? '';
    ctx.host = (h2 ? (req as Http2ServerRequest).authority : undefined) ?? ctx.header('host') ?? '';
    ctx.hostname = hostnameOf(ctx.host);

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
    const hasBody = h2 ? !(req as Http2ServerRequest).stream.endAfterHeaders : cl !== undefined || ctx.header('transfer-encoding') !== undefined;
    ctx.chunked = hasBody && ctx.contentLength < 0;
    const path = normalizePath(q < 0 ? url : url.slice(0, q));
    if (path === null) return this.#fail(ctx, sink, 'WICKET_ERR_BAD_REQUEST');
    ctx.path = path;

    const route = host.table().router.find(ctx);
    if (route === null) return this.#fail(ctx, sink, 'WICKET_ERR_ROUTE_NOT_FOUND');
    if (route.proxy !== null && hasBody) {
      if (ctx.contentLength > route.maxBodyBytes) return this.#fail(ctx, sink, 'WICKET_ERR_BODY_TOO_LARGE');
      ctx.body = new StreamBody(req, route.maxBodyBytes);
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
