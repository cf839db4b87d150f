// The typed per-request context. Listeners fill it from their protocol; the
// pipeline, router and proxy only ever see this and a ResponseSink.
import type { Readable } from 'node:stream';
import type { Routable } from '../routing/router.js';

export class RequestContext implements Routable {
  method = '';
  /** Normalized path (dot segments resolved), no query. */
  path = '';
  /** Raw query string without '?', '' when none. */
  query = '';
  hostname = '';
  /** Host header as sent (with port), '' when absent. */
  host = '';
  /** Flat [name, value, ...], lower-case names, in arrival order, as received. */
  headers: string[] = [];
  remoteAddress = '';
  requestId = '';
  /** -1 when the request declared no Content-Length. */
  contentLength = -1;
  chunked = false;
  body: Readable | null = null;
  params: Record<string, string> = {};
  readonly startedAt: number;

  // Outcome, for the access log.
  status = 0;
  bytesOut = 0;
  upstream = '';
  errorCode = '';
  /** Upstream tries made (1 + retries). */
  attempts = 0;
  /** Seconds for a Retry-After header on the gateway's own error reply (0: none). */
  retryAfter = 0;

  #queryParams: URLSearchParams | null = null;

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
}

/**
 * Where a response goes. Listeners implement it over their protocol.
 * Order of calls: start -> write* -> end, or abort at any point.
 */
export interface ResponseSink {
  /** True once the client went away; nothing may be written after that. */
  readonly aborted: boolean;
  /** True once start() ran: an error now can only cut the connection. */
  readonly started: boolean;
  /** The gateway's own headers for a proxied response (set before start). */
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
