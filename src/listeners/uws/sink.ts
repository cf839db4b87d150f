// ResponseSink over a uWS HttpResponse. Status, headers and the first chunk
// go out in one cork (one syscall for small responses). Known lengths are
// streamed with tryEnd + onWritable (uWS writes Content-Length); unknown
// lengths with write (chunked). Every write is corked because undici calls
// us from outside uWS callbacks.
import { STATUS_CODES } from 'node:http';
import type { HttpResponse } from 'uWebSockets.js';
import type { Downstream, SinkListener } from '../../pipeline/context.js';
import { UwsBody } from './body.js';
import type { UwsUpgrade } from './ws-client.js';

// uWS writes JS strings as UTF-8; node's parser hands header bytes over as
// latin1 strings. Non-ASCII values are turned back into their bytes.
const NON_ASCII = /[^\x00-\x7f]/;
const bytes = (v: Buffer | string): Buffer | string => (typeof v === 'string' && NON_ASCII.test(v) ? Buffer.from(v, 'latin1') : v);

/** Largest chunked-mode write per cork: well inside uWS's 16 KiB cork buffer, headers included. */
const CHUNK_SLICE = 8 * 1024;

const STATUS_LINES: string[] = [];
for (let s = 100; s < 600; s++) STATUS_LINES[s] = `${s} ${STATUS_CODES[s] ?? 'Unknown'}`;

export class UwsSink implements Downstream {
  aborted = false;
  started = false;
  /**
   * Set while the gateway drains: the response says `Connection: close`, so
   * the client closes the connection after it (never in the middle of it).
   */
  closeAfter: boolean;
  /** The request was HEAD: replies carry a length but no body. */
  head = false;
  /** The gateway's own headers added to a proxied response (rate-limit state). */
  extraHeaders: readonly string[] | null = null;
  readonly upgrade: UwsUpgrade | null;
  readonly #res: HttpResponse;
  /** The request body reader, told when the client goes (whatever wraps it later). */
  #body: UwsBody | null = null;
  #listener: SinkListener | null = null;
  #status = 0;
  #headers: readonly (Buffer | string)[] | null = null;
  #skip: Uint8Array | null = null;
  #cl = -1;
  #noBody = false;
  #headWritten = false;
  #done = false;
  #chunk: Buffer | null = null;
  #pending: Buffer | null = null;
  /** Chunks handed over while a tryEnd chunk still waits for onWritable. */
  #queued: Buffer[] | null = null;
  #pendingOffset = 0;
  #writableSet = false;
  #ok = true;
  readonly #corkedWrite = (): void => this.#writeNow();
  readonly #corkedEnd = (): void => this.#endNow();
  readonly #onWritable = (offset: number): boolean => this.#writable(offset);

  constructor(res: HttpResponse, closeAfter: boolean, upgrade: UwsUpgrade | null) {
    this.#res = res;
    this.closeAfter = closeAfter;
    this.upgrade = upgrade;
  }

  get committed(): boolean {
    return this.#headWritten || this.#done;
  }

  /** Called from uWS onAborted. */
  clientAborted(): void {
    this.aborted = true;
    this.#body?.onAborted();
    this.#listener?.onSinkAbort();
  }

  /** uWS delivers the body only to an onData attached before the request callback returns. */
  openBody(limit: number, _grpcMessages: boolean): UwsBody {
    const body = new UwsBody(this.#res, limit);
    this.#body = body;
    this.#res.onData((ab, last) => body.onChunk(ab, last));
    return body;
  }

  setListener(l: SinkListener | null): void {
    this.#listener = l;
  }

  start(status: number, headers: readonly (Buffer | string)[] | null, skip: Uint8Array | null, cl: number, noBody: boolean): void {
    this.started = true;
    this.#status = status;
    this.#headers = headers;
    this.#skip = skip;
    // Each exchange ends with the framing it started with, drain or not.
    this.#cl = cl;
    this.#noBody = noBody;
  }

  write(chunk: Buffer): boolean {
    if (this.aborted || this.#done) return true;
    if (this.#pending !== null) {
      // A producer that did not stop on `false`: keep order, stay bounded by its chunk size.
      (this.#queued ??= []).push(chunk);
      return false;
    }
    if (this.#cl < 0 && !this.#noBody && chunk.length > CHUNK_SLICE) {
      // uWS v20.30: a corked write larger than the cork buffer flushes it
      // first, and when that flush fails (socket full) the write's own data
      // is neither sent nor buffered. Slices that always fit never take that path.
      for (let at = 0; at < chunk.length && !this.aborted; at += CHUNK_SLICE) {
        this.#chunk = chunk.subarray(at, at + CHUNK_SLICE);
        this.#res.cork(this.#corkedWrite);
      }
      return this.#ok;
    }
    this.#chunk = chunk;
    this.#res.cork(this.#corkedWrite);
    return this.#ok;
  }

  end(): void {
    if (this.aborted || this.#done) return;
    this.#res.cork(this.#corkedEnd);
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    if (this.aborted || this.#done) return;
    this.started = true;
    if (close) {
      // Answered from inside the uWS handler, uWS would go on to parse and
      // dispatch whatever the client pipelined behind this request (a
      // smuggled request). Replying on the next turn makes uWS close the
      // connection without dispatching it.
      setImmediate(() => this.#reply(status, headers, body, true));
      return;
    }
    this.#reply(status, headers, body, false);
  }

  #reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    if (this.aborted || this.#done) return;
    this.#done = true;
    const res = this.#res;
    const closeConn = close || this.closeAfter;
    res.cork(() => {
      res.writeStatus(STATUS_LINES[status] ?? String(status));
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      const noBody = status === 204 || status === 304;
      if (noBody || this.head) {
        const length = noBody ? 0 : Buffer.byteLength(body);
        // endWithoutBody(n) leaves uWS v20.30 thinking a kept-alive response
        // is unfinished, so keep-alive replies write the length themselves
        // (none for 204/304); a closing reply may let uWS write it.
        if (closeConn) res.endWithoutBody(length, true);
        else {
          if (!noBody) res.writeHeader('content-length', String(length));
          res.endWithoutBody();
        }
      } else res.end(body, closeConn);
    });
  }

  abort(): void {
    if (this.aborted || this.#done) return;
    this.#done = true;
    this.aborted = true;
    this.#res.close();
  }

  #writeHead(): void {
    this.#headWritten = true;
    const res = this.#res;
    res.writeStatus(STATUS_LINES[this.#status] ?? String(this.#status));
    // Draining: the client closes after this response. (uWS's own end(.., true)
    // writes its Connection header wherever the stream is, inside a body
    // already started: never used on a streamed response.)
    if (this.closeAfter) res.writeHeader('connection', 'close');
    const extra = this.extraHeaders;
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    const h = this.#headers;
    if (h === null) return;
    const skip = this.#skip;
    for (let i = 0; i < h.length; i += 2) {
      if (skip !== null && skip[i] === 1) continue;
      res.writeHeader(bytes(h[i]!), bytes(h[i + 1]!));
    }
  }

  #writeNow(): void {
    if (!this.#headWritten) this.#writeHead();
    const chunk = this.#chunk!;
    this.#chunk = null;
    const res = this.#res;
    if (this.#noBody) {
      this.#ok = true;
      return;
    }
    if (this.#cl >= 0) {
      const before = res.getWriteOffset();
      const [ok, done] = res.tryEnd(chunk, this.#cl);
      if (done) {
        this.#done = true;
        this.#ok = true;
      } else if (!ok) {
        this.#pending = chunk;
        this.#pendingOffset = before;
        this.#waitWritable();
        this.#ok = false;
      } else this.#ok = true;
      return;
    }
    this.#ok = res.write(chunk);
    if (!this.#ok) this.#waitWritable();
  }

  #endNow(): void {
    if (!this.#headWritten) this.#writeHead();
    const res = this.#res;
    if (this.#noBody) {
      this.#done = true;
      // No argument for 204/304/unknown: endWithoutBody(undefined) writes a bogus length.
      // endWithoutBody(n) leaves uWS v20.30 thinking the response is
      // unfinished (the next request on the connection fails): write the
      // length ourselves and call it with no argument.
      if (this.#cl >= 0 && this.#status !== 204 && this.#status !== 304) res.writeHeader('content-length', String(this.#cl));
      res.endWithoutBody();
      return;
    }
    if (this.#cl <= 0) {
      // Chunked (ends with the last chunk), or an empty body with its length.
      this.#done = true;
      res.end();
      return;
    }
    // Known length: tryEnd finished it, or the last chunk waits in #pending.
    if (this.#done || this.#pending !== null) return;
    // The upstream ended short of its Content-Length: cut, never pad.
    this.#done = true;
    this.aborted = true;
    res.close();
  }

  #waitWritable(): void {
    if (this.#writableSet) return;
    this.#writableSet = true;
    this.#res.onWritable(this.#onWritable);
  }

  #writable(offset: number): boolean {
    if (this.aborted) return true;
    const p = this.#pending;
    if (p !== null) {
      const [ok, done] = this.#res.tryEnd(p.subarray(offset - this.#pendingOffset), this.#cl);
      if (done) this.#done = true;
      if (!ok && !done) return false;
      this.#pending = null;
      const q = this.#queued;
      while (q !== null && q.length > 0 && !this.#done) {
        const before = this.#res.getWriteOffset();
        const next = q.shift()!;
        const [ok2, done2] = this.#res.tryEnd(next, this.#cl);
        if (done2) this.#done = true;
        else if (!ok2) {
          this.#pending = next;
          this.#pendingOffset = before;
          return false;
        }
      }
      this.#queued = null;
    }
    this.#listener?.onSinkDrain();
    return true;
  }
}
