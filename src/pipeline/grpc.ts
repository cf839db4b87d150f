// gRPC as the pipeline sees it: which requests are gRPC, how the gateway's
// own errors read as gRPC statuses (a gRPC client ignores the HTTP status of
// a gRPC response: it wants grpc-status), and grpc-timeout values.
import type { RequestContext, ResponseSink } from './context.js';
import { ERRORS, GrpcStatus, type ErrorCode } from './errors.js';

export { GrpcStatus };

/** grpc-status in a flat header or trailer list. */
export function grpcStatusIn(flat: readonly (Buffer | string)[]): string | undefined {
  for (let i = 0; i < flat.length; i += 2) {
    const k = flat[i]!;
    if (k.length === 11 && String(k).toLowerCase() === 'grpc-status') return String(flat[i + 1]);
  }
  return undefined;
}

/** application/grpc, application/grpc+proto, ...; not grpc-web. */
export function isGrpcType(ct: string): boolean {
  return ct.startsWith('application/grpc') && !ct.startsWith('application/grpc-web');
}

/** The gRPC status a client is told for one of the gateway's own errors (the error table's column). */
export function grpcStatusOf(code: ErrorCode): number {
  return ERRORS[code].grpc;
}

const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** grpc-timeout ("100m", "5S", up to 8 digits and a unit) in ms; undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  return m === null ? undefined : Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** A grpc-timeout value for `ms` milliseconds left (at least 1 ms). */
export function formatGrpcTimeout(ms: number): string {
  const v = Math.max(1, Math.ceil(ms));
  return v < 1e8 ? `${v}m` : `${Math.ceil(v / 1000)}S`;
}

/** The gateway's own error on a gRPC call: a trailers-only answer (HTTP 200, grpc-status, grpc-message naming the code). */
export function grpcFail(ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void {
  ctx.errorCode = code;
  ctx.status = 200;
  sink.start(200, ['content-type', 'application/grpc', 'grpc-status', String(grpcStatusOf(code)), 'grpc-message', encodeGrpcMessage(`${ERRORS[code].message} (${code})`)], null, -1, false);
  sink.end(null);
}

/** grpc-message is percent-encoded (gRPC HTTP/2 protocol spec). */
export function encodeGrpcMessage(s: string): string {
  return s.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

export class MessageTooLargeError extends Error {
  readonly code = 'WICKET_ERR_MESSAGE_TOO_LARGE';
}

/**
 * Follows gRPC's length-prefixed messages (1 flag byte, 4 length bytes,
 * then the message) across chunks, so a stream's limit can be per message:
 * a long-lived stream may carry any number of messages.
 */
export class GrpcMessageLimit {
  readonly #limit: number;
  /** Bytes of the current prefix still to read (5 at a message boundary), or 0 inside a message. */
  #prefixLeft = 5;
  #length = 0;
  /** Message bytes still to pass. */
  #bodyLeft = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** False when a message in `chunk` declares more than the limit. */
  check(chunk: Buffer): boolean {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#bodyLeft > 0) {
        const take = Math.min(this.#bodyLeft, n - i);
        this.#bodyLeft -= take;
        i += take;
        continue;
      }
      // Prefix bytes: flag (skipped), then the length big-endian.
      const pos = 5 - this.#prefixLeft;
      if (pos >= 1) this.#length = this.#length * 256 + chunk[i]!;
      i++;
      if (--this.#prefixLeft === 0) {
        if (this.#length > this.#limit) return false;
        this.#bodyLeft = this.#length;
        this.#length = 0;
        this.#prefixLeft = 5;
      }
    }
    return true;
  }
}
