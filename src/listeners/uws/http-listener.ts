// HTTP/1.1 and WebSocket upgrades on uWebSockets.js: an adapter. Each uWS
// request becomes a RequestContext and a UwsSink (the core's Downstream) and
// goes to the gateway core, which does everything else. uWS rules kept here:
// everything is copied out of `req` synchronously, onAborted is registered
// before anything async, writes are corked (sink.ts).
import uWS from 'uWebSockets.js';
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t } from 'uWebSockets.js';
import { RequestContext, type ListenerInfo } from '../../pipeline/context.js';
import type { ListenerHost } from '../host.js';
import { UwsSink } from './sink.js';
import { UwsClient, UwsUpgrade, type WsRef } from './ws-client.js';

export interface HttpListenerOptions {
  host: string;
  port: number;
  /** limits.maxWebSocketMessageBytes: uWS's own cap on one message. */
  maxWebSocketMessageBytes: number;
}

/** Refuse to run on the package's slow JS fallback (docs/ARCHITECTURE.md). */
export function assertNativeUws(): void {
  if (!String(uWS.App).includes('[native code]')) {
    throw new Error('uWebSockets.js native binary did not load (JS fallback in use); refusing to start');
  }
}

const INFO: ListenerInfo = { name: 'http', scheme: 'http', http2: false, upgrade: true, looseChunked: true };

const METHODS: Record<string, string> = {};
for (const m of ['get', 'head', 'post', 'put', 'delete', 'options', 'patch', 'trace', 'connect']) METHODS[m] = m.toUpperCase();

// Header collection for req.forEach: module-level so no closure is
// allocated per request (the callback runs synchronously).
let cur: RequestContext;
function collect(k: string, v: string): void {
  cur.headers.push(k, v);
  cur.headerBytes += k.length + v.length + 4;
}

export class HttpListener {
  readonly #app: TemplatedApp;
  readonly #opts: HttpListenerOptions;
  readonly #host: ListenerHost;
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
      open: (ws) => ws.getUserData().conn.clientOpened(new UwsClient(ws)),
      message: (ws, msg, isBinary) => ws.getUserData().conn.clientMessage(msg, isBinary),
      drain: (ws) => ws.getUserData().conn.clientDrained(),
      ping: (ws, msg) => ws.getUserData().conn.clientPing(msg),
      pong: (ws, msg) => ws.getUserData().conn.clientPong(msg),
      close: (ws, code, msg) => ws.getUserData().conn.clientClosed(code, msg),
    });
    this.#app.any('/*', (res, req) => this.#onRequest(res, req, null));
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

  /** An upgrade request: the core tunnels it, subscribes it, or answers it as an ordinary request. */
  #onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const up = new UwsUpgrade(res, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    this.#onRequest(res, req, up);
  }

  #onRequest(res: HttpResponse, req: HttpRequest, upgrade: UwsUpgrade | null): void {
    const host = this.#host;
    host.begin();
    const ctx = new RequestContext(performance.now());
    ctx.listener = INFO;
    const rawMethod = req.getMethod();
    const sink = new UwsSink(res, host.draining(), upgrade);
    if (rawMethod === 'head') sink.head = true;
    res.onAborted(() => sink.clientAborted());
    ctx.method = METHODS[rawMethod] ?? rawMethod.toUpperCase();
    ctx.target = req.getUrl();
    ctx.query = req.getQuery() ?? '';
    cur = ctx;
    req.forEach(collect);
    ctx.remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString('latin1');
    host.gateway.handle(ctx, sink);
  }
}
