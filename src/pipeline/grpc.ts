// gRPC as the pipeline sees it: which requests are gRPC, how the gateway's
// own errors read as gRPC statuses (a gRPC client ignores the HTTP status of
// a gRPC response: it wants grpc-status), and grpc-timeout values.
import type { RequestContext, ResponseSink } from './context.js';
import { ERRORS, type ErrorCode } from './errors.js';

/** grpc-status codes used here (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** application/grpc, application/grpc+proto, ...; not grpc-web. */
export function isGrpc(ctx: RequestContext): boolean {
  const ct = ctx.header('content-type');
  return ct !== undefined && ct.startsWith('application/grpc') && !ct.startsWith('application/grpc-web');
}

export function grpcStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'WICKET_ERR_ROUTE_NOT_FOUND':
    case 'WICKET_ERR_METHOD_NOT_ALLOWED':
      return GrpcStatus.UNIMPLEMENTED;
    case 'WICKET_ERR_RATE_LIMITED':
    case 'WICKET_ERR_BODY_TOO_LARGE':
    case 'WICKET_ERR_WS_CONNECTION_LIMIT':
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 'WICKET_ERR_UPSTREAM_TIMEOUT':
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 'WICKET_ERR_UPSTREAM_CONNECT':
    case 'WICKET_ERR_UPSTREAM_RESET':
    case 'WICKET_ERR_NO_TARGET':
    case 'WICKET_ERR_CIRCUIT_OPEN':
    case 'WICKET_ERR_RATE_LIMIT_UNAVAILABLE':
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.INTERNAL;
  }
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
