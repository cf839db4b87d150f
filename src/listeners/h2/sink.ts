// ResponseSink over node:http2's compatibility response, which is also
// node:http's ServerResponse for the HTTP/1.1 fallback of the TLS listener.
// Headers are held until the first body byte or the end: a response that
// ends with nothing written goes out as one HEADERS frame with END_STREAM,
// which is what gRPC calls a trailers-only response.
import type { ServerResponse } from 'node:http';
import { constants, type Http2ServerResponse } from 'node:http2';
import type { ResponseSink, SinkListener } from '../../pipeline/context.js';

/** Never sent on HTTP/2 (node throws on them) and meaningless on a fresh HTTP/1.1 response. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

type Res = Http2ServerResponse | ServerResponse;

/** Streams the gateway itself reset: not counted as the client's resets (rapid-reset accounting). */
export const resetByGateway = new WeakSet<object>();

/** Flat [name, value, ...] (Buffers are latin1 bytes) to a header object; repeats become arrays. */
export function headerObject(flat: readonly (Buffer | string)[] | null, skip: Uint8Array | null, into: Record<string, string | string[]>): void {
  if (flat === null) return;
  for (let i = 0; i < flat.length; i += 2) {
    if (skip !== null && skip[i] === 1) continue;
    const k = (typeof flat[i] === 'string' ? (flat[i] as string) : (flat[i] as Buffer).toString('latin1')).toLowerCase();
    if (CONNECTION_SPECIFIC.has(k) || k.charCodeAt(0) === 58 /* : */) continue;
    const v = typeof flat[i + 1] === 'string' ? (flat[i + 1] as string) : (flat[i + 1] as Buffer).toString('latin1');
    const prev = into[k];
    into[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
}

export class H2Sink implements ResponseSink {
  aborted = false;
  started = false;
  extraHeaders: readonly string[] | null = null;
  /** HEAD request: status and headers only. */
  head = false;
  readonly #res: Res;
  readonly #h2: boolean;
  #listener: SinkListener | null = null;
  #status = 0;
  #headers: readonly (Buffer | string)[] | null = null;
  #skip: Uint8Array | null = null;
  #cl = -1;
  #noBody = false;
  #headWritten = false;
  #done = false;

  constructor(res: Res, h2: boolean) {
    this.#res = res;
    this.#h2 = h2;
    res.on('drain', () => this.#listener?.onSinkDrain());
    res.on('close', () => {
      if (this.#done) return;
      this.aborted = true;
      this.#listener?.onSinkAbort();
    });
  }

  setListener(l: SinkListener | null): void {
    this.#listener = l;
  }

  start(status: number, headers: readonly (Buffer | string)[] | null, skip: Uint8Array | null, cl: number, noBody: boolean): void {
    this.started = true;
    this.#status = status;
    this.#headers = headers;
    this.#skip = skip;
    this.#cl = cl;
    this.#noBody = noBody || this.head;
  }

  write(chunk: Buffer): boolean {
    if (this.aborted || this.#done) return true;
    if (!this.#headWritten) this.#writeHead(false);
    if (this.#noBody) return true;
    return (this.#res as ServerResponse).write(chunk);
  }

  end(trailers?: readonly string[] | null): void {
    if (this.aborted || this.#done) return;
    this.#done = true;
    const res = this.#res;
    if (!this.#headWritten) {
      if (this.#h2 && (trailers === undefined || trailers === null || trailers.length === 0)) {
        // Nothing was written: one HEADERS frame that ends the stream.
        this.#headWritten = true;
        (res as Http2ServerResponse).stream.respond(this.#headerBlock(), { endStream: true });
        return;
      }
      this.#writeHead(false);
    }
    if (trailers !== undefined && trailers !== null && trailers.length > 0 && this.#h2) {
      const t: Record<string, string | string[]> = {};
      headerObject(trailers, null, t);
      (res as Http2ServerResponse).addTrailers(t);
    }
    (res as ServerResponse).end();
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    if (this.aborted || this.#done) return;
    this.started = true;
    this.start(status, headers, null, Buffer.byteLength(body), status === 204 || status === 304);
    if (close && !this.#h2) (this.#res as ServerResponse).shouldKeepAlive = false;
    if (this.#noBody || Buffer.byteLength(body) === 0) return this.end();
    this.#writeHead(false);
    this.#done = true;
    (this.#res as ServerResponse).end(body);
  }

  abort(): void {
    if (this.aborted || this.#done) return;
    this.#done = true;
    this.aborted = true;
    if (this.#h2) {
      const stream = (this.#res as Http2ServerResponse).stream;
      resetByGateway.add(stream);
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
    else (this.#res as ServerResponse).destroy();
  }

  #headerBlock(): Record<string, string | string[]> {
    const h: Record<string, string | string[]> = { ':status': String(this.#status) };
    headerObject(this.extraHeaders, null, h);
    headerObject(this.#headers, this.#skip, h);
    if (this.#cl >= 0 && !(this.#status === 204 || this.#status === 304)) h['content-length'] = String(this.#cl);
    return h;
  }

  #writeHead(_end: boolean): void {
    this.#headWritten = true;
    const block = this.#headerBlock();
    const status = this.#status;
    delete block[':status'];
    this.#res.writeHead(status, block);
  }
}
