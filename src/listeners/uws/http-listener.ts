// HTTP/1.1 on uWebSockets.js: turns each uWS request into a RequestContext
// and a UwsSink, checks limits and framing, routes, then replies or proxies.
// uWS rules kept here: everything is copied out of `req` synchronously,
// onAborted is registered before anything async, writes are corked.
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import { RequestContext, type ResponseSink } from '../../pipeline/context.js';
import { ERRORS, errorBody, type ErrorCode } from '../../pipeline/errors.js';
import type { RouteTable } from '../../worker/route-table.js';
import { hostnameOf, normalizePath } from '../../routing/normalize.js';
import { UwsSink } from './sink.js';
import { UwsBody } from './body.js';
import type { CompiledRoute } from '../../worker/route-table.js';
import { checkFraming, type Framing } from './framing.js';
import { WsTunnel, type Handshake } from './ws-tunnel.js';
import type { WsRef } from './ws-endpoint.js';
import { PubSubSocket } from './pubsub-socket.js';
import { topicsAtConnect } from '../../features/pubsub/topics.js';
import { runPhases, type Phases } from '../../pipeline/phases.js';
import { grpcFail, isGrpc } from '../../pipeline/grpc.js';
import { startProxy } from '../../upstream/start-proxy.js';
import { Base64Decoder, GrpcWebSink, corsHeaders, grpcWebMode, type GrpcWebMode } from './grpc-web.js';
import { pipeline } from 'node:stream';

export interface HttpListenerOptions {
  host: string;
  port: number;
  maxHeaderBytes: number;
  maxUrlLength: number;
  /** limits.maxWebSocketMessageBytes: uWS's own cap on one message. */
  maxWebSocketMessageBytes: number;
}

/** What the listener needs from the worker. */
export interface ListenerHost {
  table(): RouteTable;
  draining(): boolean;
  /** Called once per finished exchange (access log, in-flight count). */
  done(ctx: RequestContext): void;
  begin(): void;
}

/** Refuse to run on the package's slow JS fallback (DESIGN §9). */
export function assertNativeUws(): void {
  if (!String(uWS.App).includes('[native code]')) {
    throw new Error('uWebSockets.js native binary did not load (JS fallback in use); refusing to start');
  }
}

const METHODS: Record<string, string> = {};
for (const m of ['get', 'head', 'post', 'put', 'delete', 'options', 'patch', 'trace', 'connect']) METHODS[m] = m.toUpperCase();

const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;
/** RFC 9110 §7.2: uri-host [":" port]; reg-name or IP literal. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{1,5})?$/;

// Header collection state for req.forEach: module-level so no closure is
// allocated per request (the callback runs synchronously).
let cur: RequestContext;
let hdrBytes = 0;
let clValues: string[] | null = null;
let teValues: string[] | null = null;
let hostCount = 0;
function collect(k: string, v: string): void {
  cur.headers.push(k, v);
  hdrBytes += k.length + v.length + 4;
  switch (k) {
    case 'host':
      cur.host = v;
      hostCount++;
      break;
    case 'content-length':
      (clValues ??= []).push(v);
      break;
    case 'transfer-encoding':
      (teValues ??= []).push(v);
      break;
    case 'x-request-id':
      if (REQUEST_ID.test(v)) cur.requestId = v;
      break;
  }
}

export class HttpListener {
  readonly #app: TemplatedApp;
  readonly #opts: HttpListenerOptions;
  readonly #host: ListenerHost;
  readonly #framing: Framing = { contentLength: -1, chunked: false, error: null };
  readonly #idPrefix = `${process.pid.toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}-`;
  #seq = 0;
  #socket: us_listen_socket | null = null;

  constructor(opts: HttpListenerOptions, host: ListenerHost) {
    assertNativeUws();
    this.#opts = opts;
    this.#host = host;
    this.#app = uWS.App();
    const cap = opts.maxWebSocketMessageBytes;
    this.#app.ws<WsRef>('/*', {
      // Routes enforce their own (smaller) limit with a 1009 close; uWS's own
      // limit cuts the connection without a close frame, so it sits above.
      maxPayloadLength: cap + 1,
      // Tunnels keep their own idle timers (per route); uWS's would close without telling the upstream.
      idleTimeout: 0,
      // Negotiated per upgrade: a route without compression passes no extensions to upgrade().
      compression: uWS.SHARED_COMPRESSOR,
      // The tunnel pauses the upstream at maxBufferedBytes; this is only the hard stop.
      maxBackpressure: 2 * cap + 1024 * 1024,
      closeOnBackpressureLimit: 0,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => this.#onUpgrade(res, req, context),
      open: (ws) => ws.getUserData().conn.clientOpened(ws),
      message: (ws, msg, isBinary) => ws.getUserData().conn.clientMessage(msg, isBinary),
      drain: (ws) => ws.getUserData().conn.clientDrained(),
      ping: (ws, msg) => ws.getUserData().conn.clientPing(msg),
      pong: (ws, msg) => ws.getUserData().conn.clientPong(msg),
      close: (ws, code, msg) => ws.getUserData().conn.clientClosed(code, msg),
    });
    this.#app.any('/*', (res, req) => this.#onRequest(res, req));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#app.listen(this.#opts.host, this.#opts.port, (s) => {
        if (s === false) reject(new Error(`cannot listen on ${this.#opts.host}:${this.#opts.port}`));
        else {
          this.#socket = s;
          resolve();
        }
      });
    });
  }

  /** uWS's native fan-out: every socket of this worker subscribed to `topic` gets the message. */
  publish(topic: string, data: Uint8Array, binary: boolean): void {
    this.#app.publish(topic, data, binary, false);
  }

  /** Stops accepting; open connections stay until their exchanges finish. */
  close(): void {
    if (this.#socket !== null) {
      uWS.us_listen_socket_close(this.#socket);
      this.#socket = null;
    }
  }

  /**
   * An upgrade request: proxied as a WebSocket on a route that has
   * `websocket`, else an ordinary request (a route without it never sees an
   * upgrade: hop-by-hop Upgrade/Connection are not forwarded).
   */
  #onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    // Copied now: req is only valid in this callback.
    const hs = { key: req.getHeader('sec-websocket-key'), protocol: req.getHeader('sec-websocket-protocol'), extensions: req.getHeader('sec-websocket-extensions'), context };
    this.#onRequest(res, req, hs);
  }

  #onRequest(res: HttpResponse, req: HttpRequest, upgrade: Handshake | null = null): void {
    const host = this.#host;
    host.begin();
    const ctx = new RequestContext(performance.now());
    const rawMethod = req.getMethod();
    const sink = new UwsSink(res, host.draining());
    if (rawMethod === 'head') sink.head = true;
    res.onAborted(() => {
      sink.clientAborted();
      (ctx.body as UwsBody | null)?.onAborted();
    });

    ctx.method = METHODS[rawMethod] ?? rawMethod.toUpperCase();
    const url = req.getUrl();
    ctx.query = req.getQuery() ?? '';
    cur = ctx;
    hdrBytes = 0;
    clValues = null;
    teValues = null;
    hostCount = 0;
    req.forEach(collect);
    const cl = clValues;
    const te = teValues;
    if (ctx.requestId === '') ctx.requestId = this.#idPrefix + (++this.#seq).toString(36);
    ctx.remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
    ctx.hostname = hostnameOf(ctx.host);

    const opts = this.#opts;
    if (url.length + (ctx.query === '' ? 0 : ctx.query.length + 1) > opts.maxUrlLength) return this.#fail(ctx, sink, 'WICKET_ERR_URI_TOO_LONG');
    if (hdrBytes + url.length + ctx.query.length > opts.maxHeaderBytes) return this.#fail(ctx, sink, 'WICKET_ERR_HEADERS_TOO_LARGE');
    if (ctx.method === 'CONNECT') return this.#fail(ctx, sink, 'WICKET_ERR_METHOD_NOT_ALLOWED');
    // RFC 9112 §3.2: exactly one Host, well formed (a proxy in front may read another one).
    if (hostCount > 1 || (hostCount === 1 && !HOST.test(ctx.host))) return this.#fail(ctx, sink, 'WICKET_ERR_BAD_REQUEST');
    const f = this.#framing;
    if (cl !== null || te !== null) {
      checkFraming(cl, te, f);
      if (f.error !== null) return this.#fail(ctx, sink, 'WICKET_ERR_BAD_FRAMING');
      ctx.contentLength = f.contentLength;
      ctx.chunked = f.chunked;
    }
    const path = normalizePath(url);
    if (path === null) return this.#fail(ctx, sink, 'WICKET_ERR_BAD_REQUEST');
    ctx.path = path;

    const route = host.table().router.find(ctx);
    if (route === null) {
      // A gRPC-Web client reads only gRPC-Web: tell it UNIMPLEMENTED in its own terms.
      const mode = grpcWebMode(ctx.header('content-type'));
      if (mode !== null) return this.#fail(ctx, new GrpcWebSink(sink, mode, []), 'WICKET_ERR_ROUTE_NOT_FOUND');
      return this.#fail(ctx, sink, 'WICKET_ERR_ROUTE_NOT_FOUND');
    }
    if (route.pubsub !== null) {
      if (upgrade !== null) return this.#startPubSub(ctx, sink, res, route, upgrade);
      sink.extraHeaders = ['upgrade', 'websocket']; // RFC 9110 §15.5.22
      return this.#fail(ctx, sink, 'WICKET_ERR_UPGRADE_REQUIRED');
    }
    if (upgrade !== null && route.websocket !== null) return this.#startTunnel(ctx, sink, res, route, upgrade);
    if (route.proxy !== null && route.proxy.cluster.protocol === 'h2' && route.grpcWeb !== null) {
      const mode = grpcWebMode(ctx.header('content-type'));
      if (mode !== null) return this.#grpcWeb(ctx, sink, res, route, mode);
      if (ctx.method === 'OPTIONS' && ctx.header('access-control-request-method') !== undefined) return this.#preflight(ctx, sink, route);
    }
    if (route.proxy !== null) {
      if (ctx.contentLength > route.maxBodyBytes) return this.#fail(ctx, sink, 'WICKET_ERR_BODY_TOO_LARGE');
      // uWS delivers the body only to a handler attached now, before any await.
      if (ctx.contentLength > 0 || ctx.chunked) {
        const body = new UwsBody(res, route.maxBodyBytes);
        ctx.body = body;
        res.onData((ab, last) => body.onChunk(ab, last));
      }
    }
    runPhases(ctx, sink, route, this.#phases);
  }

  /** A WebSocket route: the same onRequest phase (rate limits), then the tunnel instead of the proxy. */
  #startTunnel(ctx: RequestContext, sink: UwsSink, res: HttpResponse, route: CompiledRoute, hs: Handshake): void {
    runPhases(ctx, sink, route, {
      fail: this.#failFn,
      done: this.#host.done,
      proxy: () => new WsTunnel(ctx, sink, res, hs, route.websocket!, route.proxy!, this.#phases).start(),
    });
  }

  /** A pubsub route: topics from the request, the same onRequest phase, then the 101 at once (no upstream). */
  #startPubSub(ctx: RequestContext, sink: UwsSink, res: HttpResponse, route: CompiledRoute, hs: Handshake): void {
    const ps = route.pubsub!;
    const topics = topicsAtConnect(ctx, ps.settings);
    if (topics === null) return this.#fail(ctx, sink, 'WICKET_ERR_PUBSUB_BAD_TOPIC');
    runPhases(ctx, sink, route, {
      fail: this.#failFn,
      done: this.#host.done,
      proxy: () => new PubSubSocket(ctx, ps, topics, this.#host.done).upgrade(res, hs),
    });
  }

  readonly #phases: Phases = {
    fail: (ctx, sink, code) => this.#failFn(ctx, sink, code),
    done: (ctx) => this.#host.done(ctx),
    proxy: (ctx, sink, route) => startProxy(ctx, sink, route.proxy!, this.#host.done, this.#failFn),
  };

  /** gRPC-Web: translated to gRPC for the route's HTTP/2 upstream (grpc-web.ts). */
  #grpcWeb(ctx: RequestContext, sink: UwsSink, res: HttpResponse, route: CompiledRoute, mode: GrpcWebMode): void {
    const h = ctx.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'content-type') h[i + 1] = mode.upstreamType;
    const cors = corsHeaders(route.grpcWeb!.corsOrigins, ctx.header('origin'), undefined, false) ?? [];
    const out = new GrpcWebSink(sink, mode, cors);
    if (ctx.contentLength > route.maxBodyBytes) return this.#fail(ctx, out, 'WICKET_ERR_BODY_TOO_LARGE');
    if (ctx.contentLength > 0 || ctx.chunked) {
      const body = new UwsBody(res, route.maxBodyBytes);
      res.onData((ab, last) => body.onChunk(ab, last));
      if (mode.text) {
        // The decoded length differs: upstream, the body is sent as DATA frames without a length.
        const decoded = new Base64Decoder();
        pipeline(body, decoded, () => {});
        ctx.body = decoded;
      } else ctx.body = body;
    }
    ctx.contentLength = -1;
    runPhases(ctx, out, route, this.#phases);
  }

  /** A browser's CORS preflight for a gRPC-Web route. */
  #preflight(ctx: RequestContext, sink: UwsSink, route: CompiledRoute): void {
    const cors = corsHeaders(route.grpcWeb!.corsOrigins, ctx.header('origin'), ctx.header('access-control-request-headers'), true);
    ctx.status = cors === null ? 403 : 204;
    sink.reply(ctx.status, cors ?? [], '', false);
    this.#host.done(ctx);
  }

  /** The gateway's own error reply (also what the proxy uses). */
  readonly #failFn = (ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void => {
    // Only a translated gRPC-Web request is gRPC here (uWS has no HTTP/2): its sink writes gRPC-Web.
    if (isGrpc(ctx) || sink instanceof GrpcWebSink) return grpcFail(ctx, sink, code);
    const spec = ERRORS[code];
    ctx.status = spec.status;
    ctx.errorCode = code;
    const body = errorBody(code, ctx.requestId);
    ctx.bytesOut = body.length;
    const headers = ['content-type', 'application/json', 'x-request-id', ctx.requestId];
    if (ctx.retryAfter > 0) headers.push('retry-after', String(ctx.retryAfter));
    const extra = sink.extraHeaders;
    if (extra !== null) for (const h of extra) headers.push(h);
    if ('close' in spec && spec.close === true) {
      // Answered from inside the uWS handler, uWS would go on to parse and
      // dispatch whatever the client pipelined behind this request (a
      // smuggled request). Replying on the next turn makes uWS close the
      // connection without dispatching it.
      setImmediate(() => sink.reply(spec.status, headers, body, true));
    } else sink.reply(spec.status, headers, body, false);
  };

  #fail(ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void {
    this.#failFn(ctx, sink, code);
    this.#host.done(ctx);
  }
}
