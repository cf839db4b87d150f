// ResponseSinks of the node:http2 listener. HTTP/2 streams are answered on
// the core stream API (no compatibility request/response objects per
// request: they cost a fifth of a gRPC call's CPU); the HTTP/1.1 fallback of
// the TLS port answers on node:http's ServerResponse. Headers are held until
// the first body byte or the end: an HTTP/2 response that ends with nothing
// written goes out as one HEADERS frame with END_STREAM, which is what gRPC
// calls a trailers-only response.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Downstream, SinkListener } from '../../pipeline/context.js';
import { StreamBody } from './stream-body.js';

/** Never sent on HTTP/2 (node throws on them) and meaningless on a fresh HTTP/1.1 response. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

/**
 * Fields node:http2 refuses to send twice (its kSingleValueHeaders, less the
 * pseudo-headers); an HTTP/1.1 upstream may repeat one (llhttp lets it).
 * Comma lists among them are joined into one line (two Content-Encoding
 * lines mean "gzip, br"); for the others the first value is kept, so the
 * client gets an answer rather than a reset.
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type',
  'date', 'dnt', 'etag', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range', 'referer', 'retry-after',
  'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);
const LIST_VALUED = new Set(['content-encoding', 'content-language', 'if-match', 'if-none-match']);

/** Streams the gateway itself reset: not counted as the client's resets (rapid-reset accounting). */
export const resetByGateway = new WeakSet<object>();

/**
 * Flat [name, value, ...] (Buffers are latin1 bytes) to a header object;
 * repeats become arrays, except on HTTP/2 (`h2`) for the fields above.
 */
export function headerObject(flat: readonly (Buffer | string)[] | null, skip: Uint8Array | null, into: Record<string, string | string[]>, h2: boolean): void {
  if (flat === null) return;
  for (let i = 0; i < flat.length; i += 2) {
    if (skip !== null && skip[i] === 1) continue;
    const k = (typeof flat[i] === 'string' ? (flat[i] as string) : (flat[i] as Buffer).toString('latin1')).toLowerCase();
    if (CONNECTION_SPECIFIC.has(k) || k.charCodeAt(0) === 58 /* : */) continue;
    const v = typeof flat[i + 1] === 'string' ? (flat[i + 1] as string) : (flat[i + 1] as Buffer).toString('latin1');
    const prev = into[k];
    if (prev === undefined) into[k] = v;
    else if (!h2 || !SINGLE_VALUE.has(k)) into[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
    else if (LIST_VALUED.has(k)) into[k] = `${prev as string}, ${v}`;
  }
}

/** What a sink tells its listener about the stream's end (rapid-reset accounting). */
export interface StreamWatch {
  closed(stream: ServerHttp2Stream): void;
}

const ignore = (): void => {};

/** Status, headers and what start() said about the body: shared by both sinks. */
abstract class HeldHead {
  aborted = false;
  started = false;
  extraHeaders: readonly string[] | null = null;
  /** HEAD request: status and headers only. */
  head = false;
  protected listener: SinkListener | null = null;
  protected status = 0;
  protected headers: readonly (Buffer | string)[] | null = null;
  protected skip: Uint8Array | null = null;
  protected cl = -1;
  protected noBody = false;
  protected headWritten = false;
  protected done = false;

  get committed(): boolean {
    return this.headWritten || this.done;
  }

  setListener(l: SinkListener | null): void {
    this.listener = l;
  }

  start(status: number, headers: readonly (Buffer | string)[] | null, skip: Uint8Array | null, cl: number, noBody: boolean): void {
    this.started = true;
    this.status = status;
    this.headers = headers;
    this.skip = skip;
    this.cl = cl;
    this.noBody = noBody || this.head;
  }

  protected headerBlock(h: OutgoingHttpHeaders, h2: boolean): OutgoingHttpHeaders {
    headerObject(this.extraHeaders, null, h as Record<string, string | string[]>, h2);
    headerObject(this.headers, this.skip, h as Record<string, string | string[]>, h2);
    if (this.cl >= 0 && !(this.status === 204 || this.status === 304)) h['content-length'] = String(this.cl);
    return h;
  }
}

/** An HTTP/2 stream, answered with respond / write / end / sendTrailers. */
export class H2Sink extends HeldHead implements Downstream {
  /** HTTP/2 has no Upgrade (RFC 8441's extended CONNECT is not served). */
  readonly upgrade = null;
  /** The client sent `Expect: 100-continue`: the 100 goes out when the body is first read. */
  expectContinue = false;
  readonly #stream: ServerHttp2Stream;
  #trailers: OutgoingHttpHeaders | null = null;
  #waitingDrain = false;

  constructor(stream: ServerHttp2Stream, watch: StreamWatch) {
    super();
    this.#stream = stream;
    // Stream errors (a client reset, a session torn down) show as 'close'; unhandled they would kill the worker.
    stream.on('error', ignore);
    stream.on('close', () => {
      watch.closed(stream);
      if (this.done) return;
      this.aborted = true;
      this.listener?.onSinkAbort();
    });
  }

  openBody(limit: number, grpcMessages: boolean): StreamBody {
    return new StreamBody(this.#stream, limit, this.expectContinue ? () => this.sendContinue() : null, grpcMessages);
  }

  write(chunk: Buffer): boolean {
    if (this.aborted || this.done) return true;
    if (this.noBody) {
      if (!this.headWritten) this.#respond(true);
      return true;
    }
    if (!this.headWritten && !this.#respond(false)) return true;
    const ok = this.#stream.write(chunk);
    if (!ok && !this.#waitingDrain) {
      this.#waitingDrain = true;
      this.#stream.once('drain', this.#onDrain);
    }
    return ok;
  }

  end(trailers?: readonly string[] | null): void {
    if (this.aborted || this.done) return;
    this.done = true;
    const hasTrailers = trailers !== undefined && trailers !== null && trailers.length > 0;
    if (this.noBody || (!this.headWritten && !hasTrailers)) {
      // Nothing was written: one HEADERS frame that ends the stream.
      if (!this.headWritten) this.#respond(true);
      return;
    }
    if (!this.headWritten && !this.#respond(false)) return;
    if (hasTrailers) {
      const t: Record<string, string | string[]> = {};
      headerObject(trailers, null, t, true);
      this.#trailers = t;
    }
    this.#stream.end();
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, _close: boolean): void {
    if (this.aborted || this.done) return;
    // A reply carries every header it needs in `headers` (the core adds its own there).
    this.extraHeaders = null;
    const length = Buffer.byteLength(body);
    this.start(status, headers, null, length, status === 204 || status === 304);
    this.done = true;
    if (this.noBody || length === 0) {
      this.#respond(true);
      return;
    }
    if (!this.#respond(false, false)) return;
    this.#stream.end(body);
  }

  /**
   * `100 Continue` for a client that sent `Expect: 100-continue` and waits
   * for it before its body (node's compatibility layer sent it by itself).
   */
  sendContinue(): void {
    const s = this.#stream;
    if (this.headWritten || s.destroyed || s.closed) return;
    try {
      s.additionalHeaders({ ':status': 100 });
    } catch {
      // The stream went meanwhile: its close reports it.
    }
  }

  abort(): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.aborted = true;
    resetByGateway.add(this.#stream);
    this.#stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  /**
   * HEADERS, ending the stream or not. A proxied response with a body waits
   * for trailers (gRPC's come at the end; none is an empty END_STREAM DATA
   * frame), as node's compatibility layer does. False when the stream is
   * gone, or when node refused the headers (say an upstream status of 999:
   * the stream is then reset; a throw here would be in an upstream event
   * handler and end the worker).
   */
  #respond(endStream: boolean, trailers = true): boolean {
    this.headWritten = true;
    const s = this.#stream;
    if (s.destroyed || s.closed) return false;
    try {
      const block = this.headerBlock({ ':status': this.status }, true);
      if (endStream) s.respond(block, { endStream: true });
      else if (!trailers) s.respond(block);
      else {
        s.respond(block, { waitForTrailers: true });
        s.once('wantTrailers', this.#onWantTrailers);
      }
      return true;
    } catch {
      // Reset the stream, and tell whoever feeds it (on the next tick: we
      // are inside its write), so the upstream is cancelled, not drained.
      this.done = false;
      this.abort();
      process.nextTick(() => this.listener?.onSinkAbort());
      return false;
    }
  }

  readonly #onWantTrailers = (): void => {
    const s = this.#stream;
    if (!s.destroyed && !s.closed) s.sendTrailers(this.#trailers ?? {});
  };

  readonly #onDrain = (): void => {
    this.#waitingDrain = false;
    this.listener?.onSinkDrain();
  };
}

/** The HTTP/1.1 fallback of the TLS listener (ALPN http/1.1), on node:http's ServerResponse. */
export class Http1Sink extends HeldHead implements Downstream {
  /** node:http's upgrade path is not served on the TLS port: WebSockets go to listen.http. */
  readonly upgrade = null;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;

  constructor(req: IncomingMessage, res: ServerResponse, closeAfter: boolean) {
    super();
    this.#req = req;
    this.#res = res;
    // Draining: `Connection: close` on this response, the connection closed after it.
    if (closeAfter) res.shouldKeepAlive = false;
    res.on('drain', () => this.listener?.onSinkDrain());
    res.on('close', () => {
      if (this.done) return;
      this.aborted = true;
      this.listener?.onSinkAbort();
    });
  }

  /** node:http answers `Expect: 100-continue` itself. */
  openBody(limit: number, grpcMessages: boolean): StreamBody {
    return new StreamBody(this.#req, limit, null, grpcMessages);
  }

  write(chunk: Buffer): boolean {
    if (this.aborted || this.done) return true;
    if (!this.headWritten) this.#writeHead();
    if (this.noBody) return true;
    return this.#res.write(chunk);
  }

  /** HTTP/1.1 responses carry no trailers here: they are dropped. */
  end(_trailers?: readonly string[] | null): void {
    if (this.aborted || this.done) return;
    this.done = true;
    if (!this.headWritten) this.#writeHead();
    this.#res.end();
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    if (this.aborted || this.done) return;
    this.extraHeaders = null;
    const length = Buffer.byteLength(body);
    this.start(status, headers, null, length, status === 204 || status === 304);
    if (close) this.#res.shouldKeepAlive = false;
    if (this.noBody || length === 0) return this.end();
    this.#writeHead();
    this.done = true;
    this.#res.end(body);
  }

  abort(): void {
    if (this.aborted || this.done) return;
    this.done = true;
    this.aborted = true;
    this.#res.destroy();
  }

  #writeHead(): void {
    this.headWritten = true;
    this.#res.writeHead(this.status, this.headerBlock({}, false));
  }
}
