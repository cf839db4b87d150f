// One proxied WebSocket: the client side a listener's WsClient (uWS), the
// upstream side a WsUpstream. Phases, in order: start (connection limit, target pick, upstream
// handshake) -> upgrade (the client gets 101 with the subprotocol the upstream
// chose) -> relay (messages, pings, backpressure, idle timeout) -> close
// (codes passed through both ways) -> done (counts released, access log).
//
// Each hop negotiates permessage-deflate on its own (the gateway terminates
// both). uWS reassembles fragmented messages and so does `ws`: a message is
// relayed whole. uWS v20.30 has no pause() for a WebSocket, so the client side
// cannot be slowed: when the upstream falls more than maxBufferedBytes behind,
// the client is closed with 1013 (never dropped silently). The upstream side
// is paused while the client has more than maxBufferedBytes unsent.
import type { RequestContext, ResponseSink, Upgrade, WsClient, WsEndpoint } from '../pipeline/context.js';
import type { ErrorCode } from '../pipeline/errors.js';
import type { ResolvedWebSocket } from '../config/load.js';
import type { RouteConnections } from '../features/websocket/connections.js';
import { admit, recordOutcome, releaseTrial, upstreamFilters, type Admitted } from './admission.js';
import type { ExchangeDone, LocalError, ProxyRoute } from './proxy.js';
import { upstreamRequestHeaders } from './headers.js';
import { WsUpstream, sendableCloseCode, type WsUpstreamEvents } from './websocket.js';

export interface WsRoute {
  readonly settings: ResolvedWebSocket;
  readonly conns: RouteConnections;
}


/** Open tunnels of this worker: for the idle sweep and for drains. */
const live = new Set<WsTunnel>();
let sweeper: NodeJS.Timeout | null = null;
const SWEEP_MS = 250;

function sweep(): void {
  const now = Date.now();
  for (const t of live) t.idleCheck(now);
  if (live.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** A draining worker: every open tunnel closes with 1001 both ways. */
export function closeAllTunnels(reason: string): void {
  for (const t of [...live]) t.goAway(1001, reason);
}

const utf8 = (s: string): Buffer => Buffer.from(s);

export class WsTunnel implements WsUpstreamEvents, WsEndpoint {
  readonly #ctx: RequestContext;
  readonly #sink: ResponseSink;
  readonly #hs: Upgrade;
  readonly #ws: WsRoute;
  readonly #proxy: ProxyRoute;
  readonly #fail: LocalError;
  readonly #done: ExchangeDone;
  #admitted: Admitted | null = null;
  /** The in-flight count on the target is held. */
  #holding = false;
  #recorded = false;
  #up: WsUpstream | null = null;
  #client: WsClient | null = null;
  /** Upstream messages that came after pause() but before the client side opened (ws may still emit a few). */
  #early: [Buffer, boolean][] | null = null;
  #counted = false;
  #upPaused = false;
  #clientGone = false;
  #upGone = false;
  #finished = false;
  #last = Date.now();

  constructor(ctx: RequestContext, sink: ResponseSink, hs: Upgrade, ws: WsRoute, proxy: ProxyRoute, fail: LocalError, done: ExchangeDone) {
    this.#ctx = ctx;
    this.#sink = sink;
    this.#hs = hs;
    this.#ws = ws;
    this.#proxy = proxy;
    this.#fail = fail;
    this.#done = done;
  }

  // --- start ---------------------------------------------------------------

  start(): void {
    const ctx = this.#ctx;
    if (!this.#ws.conns.open()) return this.#refuse('WICKET_ERR_WS_CONNECTION_LIMIT');
    this.#counted = true;
    const cluster = this.#proxy.cluster;
    // The same call path as every proxied request: breaker, balancer, outcome.
    const got = admit(cluster, ctx, null);
    if (typeof got === 'string') return this.#refuse(got);
    this.#admitted = got;
    const target = got.target;
    // Held for the tunnel's life: least-connections sees open WebSockets on every worker.
    cluster.store.begin(target.slot);
    this.#holding = true;
    ctx.attempts = 1;
    ctx.upstream = target.origin;
    const headers = upstreamRequestHeaders(ctx, { proto: ctx.listener.scheme, host: target.host });
    if (!upstreamFilters(this.#proxy, ctx, headers)) return this.#refuse('WICKET_ERR_INTERNAL');
    const s = this.#ws.settings;
    const path = this.#proxy.rewrite === null ? ctx.path : this.#proxy.rewrite(ctx.path);
    const url = `${target.origin.replace(/^http/, 'ws')}${path}${ctx.query === '' ? '' : `?${ctx.query}`}`;
    try {
      this.#up = new WsUpstream(
        {
          url,
          protocols: this.#hs.protocols === '' ? [] : this.#hs.protocols.split(',').map((p) => p.trim()).filter((p) => p !== ''),
          headers: headerObject(headers),
          ...(this.#proxy.preserveHost && ctx.host !== '' ? { host: ctx.host } : {}),
          maxMessageBytes: s.maxMessageBytes,
          compression: s.compression,
          handshakeTimeoutMs: cluster.connectTimeoutMs,
        },
        this,
      );
    } catch {
      // `ws` refuses some handshakes before sending anything (a repeated or malformed subprotocol).
      return this.#refuse('WICKET_ERR_BAD_REQUEST');
    }
  }

  /** A gateway error instead of the upgrade (before any 101). */
  #refuse(code: ErrorCode): void {
    this.#upGone = this.#clientGone = true;
    if (!this.#sink.aborted) this.#fail(this.#ctx, this.#sink, code);
    this.#finish();
  }

  // --- upstream events -------------------------------------------------------

  opened(protocol: string, extensions: string, headers: string[]): void {
    void extensions; // the upstream hop's own deflate: nothing to do with the client's
    const up = this.#up!;
    this.#record(true);
    if (this.#sink.aborted) {
      // The client left during the handshake.
      this.#upGone = true;
      up.close(1001, utf8('client went away'));
      this.#ctx.status = 499;
      this.#ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
      return this.#finish();
    }
    // Nothing is read from the upstream until the client side is open.
    up.pause();
    this.#upPaused = true;
    const hs = this.#hs;
    this.#ctx.status = 101;
    // Empty extensions: no deflate negotiated for this client.
    hs.accept(this, protocol, this.#ws.settings.compression ? hs.extensions : '', headers);
  }

  refused(status: number, headers: string[], body: Buffer): void {
    this.#record(status < 500);
    this.#upGone = this.#clientGone = true;
    const ctx = this.#ctx;
    ctx.status = status;
    ctx.bytesOut = body.length;
    if (!this.#sink.aborted) this.#sink.reply(status, headers, body, false);
    this.#finish();
  }

  failed(code: 'WICKET_ERR_UPSTREAM_CONNECT' | 'WICKET_ERR_UPSTREAM_TIMEOUT'): void {
    this.#record(false);
    this.#refuse(code);
  }

  message(data: Buffer, binary: boolean): void {
    const c = this.#client;
    if (this.#clientGone) return;
    if (c === null) {
      (this.#early ??= []).push([data, binary]);
      return;
    }
    this.#last = Date.now();
    this.#ctx.bytesOut += data.length;
    const r = c.send(data, binary);
    if (r === 2) return this.goAway(1013, 'client not keeping up');
    if (!this.#upPaused && c.bufferedAmount() > this.#ws.settings.maxBufferedBytes) {
      this.#upPaused = true;
      this.#up!.pause();
    }
  }

  ping(data: Buffer): void {
    const c = this.#client;
    if (c !== null && !this.#clientGone) c.ping(data);
  }

  pong(): void {
    // The answer to a client ping we passed on; uWS already answered the client.
  }

  closed(code: number, reason: Buffer): void {
    this.#upGone = true;
    const c = this.#client;
    if (c !== null && !this.#clientGone) {
      this.#clientGone = true;
      if (code === 1005) c.end();
      else if (sendableCloseCode(code)) c.end(code, reason);
      else c.end(1014, 'upstream connection lost'); // 1014: bad gateway (RFC 6455 registry)
    }
    this.#finish();
  }

  // --- client events (uWS behavior handlers) ----------------------------------

  clientOpened(ws: WsClient): void {
    this.#client = ws;
    live.add(this);
    sweeper ??= setInterval(sweep, SWEEP_MS).unref();
    const early = this.#early;
    this.#early = null;
    if (early !== null) for (const [data, binary] of early) this.message(data, binary);
    if (this.#upPaused) {
      this.#upPaused = false;
      this.#up!.resume();
    }
  }

  clientMessage(msg: ArrayBuffer, binary: boolean): void {
    const s = this.#ws.settings;
    this.#last = Date.now();
    if (msg.byteLength > s.maxMessageBytes) return this.goAway(1009, 'message too big', 1001);
    const up = this.#up!;
    // Still more than the limit unsent from before: the client is ahead and
    // uWS cannot pause it. (So at most limit + one message is ever held.)
    if (up.pendingBytes > s.maxBufferedBytes) return this.goAway(1013, 'upstream not keeping up', 1001);
    // uWS reuses the ArrayBuffer after this callback: copy.
    up.send(Buffer.from(new Uint8Array(msg)), binary);
  }

  clientPing(msg: ArrayBuffer): void {
    this.#last = Date.now();
    this.#up?.ping(Buffer.from(new Uint8Array(msg)));
  }

  clientPong(msg: ArrayBuffer): void {
    this.#last = Date.now();
    this.#up?.pong(Buffer.from(new Uint8Array(msg)));
  }

  clientDrained(): void {
    const c = this.#client;
    if (this.#upPaused && c !== null && c.bufferedAmount() <= this.#ws.settings.maxBufferedBytes / 2) {
      this.#upPaused = false;
      this.#up!.resume();
    }
  }

  /** uWS's close handler: the client sent a close frame, vanished, or we ended it. */
  clientClosed(code: number, message: ArrayBuffer): void {
    this.#clientGone = true;
    if (!this.#upGone) {
      this.#upGone = true;
      const up = this.#up!;
      if (code === 1006 || code === 0) up.terminate();
      else if (code === 1005) up.close();
      else up.close(code, Buffer.from(new Uint8Array(message)));
    }
    this.#finish();
  }

  // --- timers and drains ---------------------------------------------------------

  idleCheck(now: number): void {
    const idle = this.#ws.settings.idleTimeoutMs;
    if (idle > 0 && now - this.#last >= idle) this.goAway(1001, 'idle timeout');
  }

  /** Ends both sides: the client with `code`, the upstream with `upCode` (default the same). */
  goAway(code: number, reason: string, upCode = code): void {
    if (!this.#upGone) {
      this.#upGone = true;
      this.#up?.close(upCode, utf8(reason));
    }
    const c = this.#client;
    if (c !== null && !this.#clientGone) {
      this.#clientGone = true;
      c.end(code, reason); // calls clientClosed at once
    }
    this.#finish();
  }

  // --- done --------------------------------------------------------------------------

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    live.delete(this);
    this.#release();
    this.#done(this.#ctx);
  }

  /** The handshake's verdict on the target (breaker, outlier detection), once. */
  #record(ok: boolean): void {
    if (this.#recorded || this.#admitted === null) return;
    this.#recorded = true;
    recordOutcome(this.#proxy.cluster, this.#admitted, ok);
  }

  #release(): void {
    const a = this.#admitted;
    if (a !== null && this.#holding) {
      this.#holding = false;
      if (!this.#recorded) {
        this.#recorded = true;
        releaseTrial(this.#proxy.cluster, a);
      }
      this.#proxy.cluster.store.end(a.target.slot);
    }
    if (this.#counted) {
      this.#counted = false;
      this.#ws.conns.close();
    }
  }
}

/** `ws` takes headers as an object: repeated fields joined (cookies with "; "). */
function headerObject(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    // ws writes Host, the handshake fields and framing itself.
    if (k === 'host' || k.startsWith('sec-websocket-') || k === 'content-length') continue;
    const v = flat[i + 1]!;
    const prev = out[k];
    out[k] = prev === undefined ? v : `${prev}${k === 'cookie' ? '; ' : ', '}${v}`;
  }
  return out;
}
