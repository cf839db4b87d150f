// gRPC-Web, translated to gRPC for an HTTP/2 upstream
// (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md):
// - request: application/grpc-web[+proto] goes upstream as application/grpc[+proto];
//   application/grpc-web-text[+proto] is base64 and is decoded on the way;
// - response: the same frames, then the trailers as one more frame (flag
//   0x80, then "name:value\r\n" lines); in text mode each upstream chunk is
//   base64-encoded and flushed on its own, padding included, as the protocol
//   allows ("the implementation may send base64-encoded chunks with
//   potential padding whenever the runtime needs to flush"), so a streamed
//   message is never held back waiting for the next one.
import { Transform, type TransformCallback } from 'node:stream';
import type { ResponseSink, SinkListener } from '../../pipeline/context.js';

export interface GrpcWebMode {
  /** The content-type answered to the client. */
  readonly contentType: string;
  /** The content-type sent upstream. */
  readonly upstreamType: string;
  readonly text: boolean;
}

/** The gRPC-Web mode of a request's content-type, or null when it is not gRPC-Web. */
export function grpcWebMode(contentType: string | undefined): GrpcWebMode | null {
  if (contentType === undefined || contentType === '') return null;
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  if (!ct.startsWith('application/grpc-web')) return null;
  const text = ct.startsWith('application/grpc-web-text');
  const suffix = ct.slice(text ? 'application/grpc-web-text'.length : 'application/grpc-web'.length);
  if (suffix !== '' && !/^\+[a-z0-9.-]+$/.test(suffix)) return null;
  return { contentType: ct, upstreamType: `application/grpc${suffix}`, text };
}

/**
 * Decodes base64 that may be cut anywhere and may carry padding inside (each
 * flush of a gRPC-Web text stream is encoded on its own). Node's decoder
 * stops at the first '=', so each padded segment is decoded separately.
 */
export function decodeBase64Segments(s: string): Buffer {
  if (s.indexOf('=') < 0 || s.indexOf('=') === s.length - 1 || /^[^=]*==?$/.test(s)) return Buffer.from(s, 'base64');
  return Buffer.concat(s.split(/(?<==)(?=[^=])/).map((part) => Buffer.from(part, 'base64')));
}

export class Base64Decoder extends Transform {
  #carry = '';

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const s = this.#carry + chunk.toString('latin1').replace(/[\r\n\s]/g, '');
    // Whole 4-char quads only; the rest waits for the next chunk.
    const whole = s.length - (s.length % 4);
    this.#carry = s.slice(whole);
    if (whole > 0) this.push(decodeBase64Segments(s.slice(0, whole)));
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.#carry !== '') this.push(decodeBase64Segments(this.#carry));
    cb();
  }
}

/** The trailers frame: flag 0x80, length, then "name:value\r\n" per trailer. */
export function trailerFrame(trailers: readonly string[]): Buffer {
  let text = '';
  for (let i = 0; i < trailers.length; i += 2) text += `${trailers[i]!.toLowerCase()}:${trailers[i + 1]!}\r\n`;
  const body = Buffer.from(text, 'latin1');
  const head = Buffer.alloc(5);
  head[0] = 0x80;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

const GRPC_TRAILERS = new Set(['grpc-status', 'grpc-message', 'grpc-status-details-bin']);

/**
 * A ResponseSink for the upstream's gRPC answer that writes gRPC-Web to the
 * client's sink. The client's HTTP status is 200 whenever the upstream
 * answered 200; grpc-status and friends go in the trailers frame, also for a
 * trailers-only upstream answer (so the client finds them in one place).
 */
export class GrpcWebSink implements ResponseSink {
  readonly #out: ResponseSink;
  readonly #mode: GrpcWebMode;
  /** Trailers that came in the response headers (a trailers-only answer). */
  #headerTrailers: string[] = [];

  constructor(out: ResponseSink, mode: GrpcWebMode) {
    this.#out = out;
    this.#mode = mode;
  }

  get aborted(): boolean {
    return this.#out.aborted;
  }

  get started(): boolean {
    return this.#out.started;
  }

  get committed(): boolean {
    return this.#out.committed;
  }

  get extraHeaders(): readonly string[] | null {
    return this.#out.extraHeaders;
  }

  set extraHeaders(v: readonly string[] | null) {
    this.#out.extraHeaders = v;
  }

  setListener(l: SinkListener | null): void {
    this.#out.setListener(l);
  }

  start(status: number, headers: readonly (Buffer | string)[] | null, skip: Uint8Array | null, _cl: number, noBody: boolean): void {
    const out: string[] = ['content-type', this.#mode.contentType];
    if (headers !== null) {
      for (let i = 0; i < headers.length; i += 2) {
        if (skip !== null && skip[i] === 1) continue;
        const k = String(headers[i]).toLowerCase();
        const v = String(headers[i + 1]);
        if (k === 'content-type' || k === 'content-length') continue;
        if (GRPC_TRAILERS.has(k)) this.#headerTrailers.push(k, v);
        else out.push(k, v);
      }
    }
    this.#out.start(status, out, null, -1, noBody);
  }

  write(chunk: Buffer): boolean {
    return this.#mode.text ? this.#writeText(chunk) : this.#out.write(chunk);
  }

  end(trailers?: readonly string[] | null): void {
    const t = trailers !== undefined && trailers !== null && trailers.length > 0 ? trailers : this.#headerTrailers;
    // An answer with no grpc-status anywhere is not a gRPC answer: UNKNOWN, as a gRPC client would say.
    const frame = trailerFrame(t.length > 0 ? t : ['grpc-status', '2', 'grpc-message', 'upstream%20sent%20no%20grpc-status']);
    if (this.#mode.text) this.#writeText(frame);
    else this.#out.write(frame);
    this.#out.end(null);
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    this.#out.reply(status, headers, body, close);
  }

  abort(): void {
    this.#out.abort();
  }

  /** One base64 chunk per upstream chunk, flushed at once. */
  #writeText(chunk: Buffer): boolean {
    return this.#out.write(Buffer.from(chunk.toString('base64'), 'latin1'));
  }
}
