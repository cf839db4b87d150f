// The typed per-request context and the ResponseSink. Listeners fill the
// request half of the context from their protocol; the gateway core, the
// router, filters and the proxy only ever see this and a ResponseSink.
import type { Readable } from 'node:stream';
import type { Routable } from '../routing/router.js';
import type { ErrorCode } from './errors.js';
import type { RateWatched } from './body-rate.js';
import type { Identity } from './identity.js';
import { readWhole } from './whole-body.js';

/** What a listener is and can do; one constant object per listener. */
export interface ListenerInfo {
  /** For logs and errors: http (uWS), h2c, https-h2, https-h1. */
  readonly name: string;
  /** The scheme clients used: forwarded upstream as X-Forwarded-Proto / Forwarded proto. */
  readonly scheme: 'http' | 'https';
  /** Requests are HTTP/2 streams: trailers, gRPC. */
  readonly http2: boolean;
  /** The listener can upgrade a request to a WebSocket (sink.upgrade is set on upgrade requests). */
  readonly upgrade: boolean;
  /**
   * Its HTTP/1.1 parser misreads chunk-size lines with extensions (uWS
   * v20.30): chunked bodies from proxies are refused (docs/ARCHITECTURE.md).
   */
  readonly looseChunked: boolean;
}

/** A filter's onDone, as the context holds it (the Filter contract: filter.ts). */
export interface DoneHook {
  readonly name: string;
  onDone?(ctx: RequestContext): void;
}

/** A per-filter slot in the request context: typed, indexed, no lookup by name. */
export class Slot<T> {
  static #next = 0;
  readonly index = Slot.#next++;
  declare readonly _type: T;
}

export class RequestContext implements Routable {
  method = '';
  /** The request target as received (path and query), before any check. */
  target = '';
  /** Normalized path (docs/ARCHITECTURE.md "Request hygiene"), no query: what is routed and forwarded. */
  path = '';
  /** Raw query string without '?', '' when none. */
  query = '';
  hostname = '';
  /** Host header (HTTP/1.1) or :authority (HTTP/2) as sent, with port; '' when absent. */
  host = '';
  /** Flat [name, value, ...], lower-case names, in arrival order, as received. */
  headers: string[] = [];
  /** Sum of header name and value lengths (+4 each), as the listener counted them. */
  headerBytes = 0;
  remoteAddress = '';
  requestId = '';
  /** The request has a body (a length > 0, chunked, or HTTP/2 DATA to come). */
  hasBody = false;
  /** The first Content-Type as sent ('' when none; set by the hygiene pass). */
  contentType = '';
  /** -1 when the request declared no Content-Length. */
  contentLength = -1;
  chunked = false;
  body: Readable | null = null;
  /**
   * The whole body once readBody() was called (docs/ARCHITECTURE.md
   * "Filters"): the proxy then sends exactly these bytes.
   */
  wholeBody: Promise<Buffer> | null = null;
  params: Record<string, string> = {};
  /** Set by the listener before the core runs. */
  listener!: ListenerInfo;
  readonly startedAt: number;
  /** The route's name once routed ('' before, or when none matched). */
  route = '';
  /**
   * A gRPC call: gRPC over HTTP/2, or gRPC-Web once its filter translated it.
   * The gateway's own errors are answered as gRPC (trailers-only); the call's
   * deadline and grpc-status decide the exchange (ProxyCall).
   */
  grpc = false;
  /** Who the caller is, once the auth filter verified it (null: no auth on the route, or not yet). */
  identity: Identity | null = null;
  /** Headers the gateway adds to whatever response goes out (rate-limit state, ...). */
  extraHeaders: string[] | null = null;
  /** The route's onDone filters (set when routed). */
  onDone: readonly DoneHook[] | null = null;
  /** The core reported the exchange done (once). */
  finished = false;

  // Outcome, for the access log.
  status = 0;
  bytesOut = 0;
  upstream = '';
  errorCode: ErrorCode | '' = '';
  /** Upstream tries made (1 + retries). */
  attempts = 0;
  /** Seconds for a Retry-After header on the gateway's own error reply (0: none). */
  retryAfter = 0;

  #queryParams: URLSearchParams | null = null;
  #slots: unknown[] | null = null;

  constructor(startedAt: number) {
    this.startedAt = startedAt;
  }

  header(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }

  queryParam(name: string): string | undefined {
    if (this.query === '') return undefined;
    this.#queryParams ??= new URLSearchParams(this.query);
    return this.#queryParams.get(name) ?? undefined;
  }

  /**
   * Reads the request body whole, once (later calls share the read), for a
   * filter that must see it before the request goes upstream. Bounded by the
   * route's body limit (rejects with WICKET_ERR_BODY_TOO_LARGE past it: see
   * bodyErrorCode); empty when the request has no body.
   */
  readBody(): Promise<Buffer> {
    return (this.wholeBody ??= this.body === null ? Promise.resolve(Buffer.alloc(0)) : readWhole(this.body));
  }

  /** Adds response headers the gateway itself sets (flat pairs). */
  addResponseHeaders(flat: readonly string[]): void {
    if (flat.length === 0) return;
    if (this.extraHeaders === null) this.extraHeaders = [...flat];
    else for (const v of flat) this.extraHeaders.push(v);
  }

  get<T>(slot: Slot<T>): T | undefined {
    return this.#slots?.[slot.index] as T | undefined;
  }

  set<T>(slot: Slot<T>, value: T): void {
    (this.#slots ??= [])[slot.index] = value;
  }
}

/**
 * Where a response goes. Listeners implement it over their protocol.
 * Order of calls: start -> write* -> end, or reply, or abort at any point.
 */
export interface ResponseSink {
  /** True once the client went away; nothing may be written after that. */
  readonly aborted: boolean;
  /** True once start() ran (the answer's head is chosen; it may still be held). */
  readonly started: boolean;
  /**
   * True once any byte of the answer went to the client: an error now can
   * only cut the connection. Until then the gateway may still answer with
   * its own error instead (an upstream that failed after its headers).
   */
  readonly committed: boolean;
  /** The gateway's own headers for the response (set before start). */
  extraHeaders: readonly string[] | null;
  /**
   * Status and headers, written together with the first chunk. `headers` is a
   * flat [name, value, ...] list (Buffers or strings); `skip` marks indexes of
   * names not to forward. contentLength -1 means unknown (chunked).
   */
  start(status: number, headers: readonly (Buffer | string)[] | null, skip: Uint8Array | null, contentLength: number, noBody: boolean): void;
  /** False means the client is slow: stop until the listener's onSinkDrain. */
  write(chunk: Buffer): boolean;
  /** `trailers` (flat): sent where the protocol has them (HTTP/2, gRPC-Web), dropped elsewhere. */
  end(trailers?: readonly string[] | null): void;
  /** A complete local reply (errors, static routes). */
  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void;
  /** Cuts the client connection (an upstream failed mid-body). */
  abort(): void;
  /** Who hears about drain and client abort. One listener per exchange. */
  setListener(l: SinkListener | null): void;
}

export interface SinkListener {
  onSinkDrain(): void;
  onSinkAbort(): void;
}

/**
 * The client side of a request as the core drives it: the sink, plus what
 * only the listener can do with its connection (read the body, upgrade).
 */
export interface Downstream extends ResponseSink {
  /**
   * The request body as a Readable, failing with WICKET_ERR_BODY_TOO_LARGE
   * past `limit` bytes (`grpcMessages`: the limit is per gRPC message, not
   * the total: a long-lived stream may carry any number). Called at most once, synchronously within the
   * listener's request callback (uWS delivers the body only to a handler
   * attached then).
   */
  openBody(limit: number, grpcMessages: boolean): RateWatched;
  /** The WebSocket handshake of an upgrade request (null: not an upgrade, or the listener cannot upgrade). */
  readonly upgrade: Upgrade | null;
}

/** A WebSocket handshake the listener can complete. */
export interface Upgrade {
  /** Sec-WebSocket-Protocol offered by the client ('' when none). */
  readonly protocols: string;
  /** Sec-WebSocket-Extensions offered by the client ('' when none). */
  readonly extensions: string;
  /** Sends 101 with these headers and hands the socket to `endpoint`. `extensions` '' negotiates none. */
  accept(endpoint: WsEndpoint, protocol: string, extensions: string, headers: readonly string[]): void;
}

/** A client WebSocket, protocol-neutral. */
export interface WsClient {
  /** 0: buffered (backpressure), 1: sent, 2: dropped (over the hard limit). */
  send(data: Uint8Array, binary: boolean): number;
  /** Close frame with a code (none: 1005), then the connection ends; calls endpoint.clientClosed at once. */
  end(code?: number, reason?: string | Uint8Array): void;
  ping(data: Uint8Array): void;
  bufferedAmount(): number;
  /** The listener's native fan-out (every socket of this worker on `topic` gets publish()es). */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** What an upgraded socket's events go to: a proxy tunnel or a pub/sub subscriber. */
export interface WsEndpoint {
  clientOpened(ws: WsClient): void;
  /** `msg` is only valid during the call (the listener reuses it): copy what you keep. */
  clientMessage(msg: ArrayBuffer, binary: boolean): void;
  clientDrained(): void;
  clientPing(msg: ArrayBuffer): void;
  clientPong(msg: ArrayBuffer): void;
  /** The client sent a close frame, vanished, or we ended it. */
  clientClosed(code: number, message: ArrayBuffer): void;
}
