// One table of stable error codes: every code the gateway emits, whoever
// emits it (request path, admin API, config, shared memory, Redis), with its
// HTTP status, its gRPC status (what a gRPC or gRPC-Web client is told) and
// whose fault it was (`source`, for logs and metrics). Error bodies are small
// JSON that never leak internals.
export type ErrorSource = 'downstream' | 'upstream' | 'internal';

/** grpc-status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export interface ErrorSpec {
  readonly status: number;
  readonly grpc: number;
  readonly source: ErrorSource;
  readonly message: string;
  /** Close the client connection after the reply (framing can't be trusted). */
  readonly close?: boolean;
}

const G = GrpcStatus;

export const ERRORS = {
  // --- the request path: the client's request ---------------------------------------------
  WICKET_ERR_ROUTE_NOT_FOUND: { status: 404, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'no route matches this request' },
  WICKET_ERR_BAD_REQUEST: { status: 400, grpc: G.INTERNAL, source: 'downstream', message: 'malformed request', close: true },
  WICKET_ERR_BAD_FRAMING: { status: 400, grpc: G.INTERNAL, source: 'downstream', message: 'ambiguous or malformed message framing', close: true },
  WICKET_ERR_LENGTH_REQUIRED: { status: 411, grpc: G.INTERNAL, source: 'downstream', message: 'chunked request bodies are not accepted here: send Content-Length', close: true },
  WICKET_ERR_METHOD_NOT_ALLOWED: { status: 405, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'method not supported by this gateway' },
  WICKET_ERR_BODY_TOO_LARGE: { status: 413, grpc: G.RESOURCE_EXHAUSTED, source: 'downstream', message: 'request body too large', close: true },
  WICKET_ERR_MESSAGE_TOO_LARGE: { status: 413, grpc: G.RESOURCE_EXHAUSTED, source: 'downstream', message: 'a gRPC message of the request is too large' },
  WICKET_ERR_REQUEST_TIMEOUT: { status: 408, grpc: G.DEADLINE_EXCEEDED, source: 'downstream', message: 'request body arrived too slowly', close: true },
  WICKET_ERR_URI_TOO_LONG: { status: 414, grpc: G.INTERNAL, source: 'downstream', message: 'request target too long', close: true },
  WICKET_ERR_RATE_LIMITED: { status: 429, grpc: G.RESOURCE_EXHAUSTED, source: 'downstream', message: 'rate limit exceeded' },
  WICKET_ERR_HEADERS_TOO_LARGE: { status: 431, grpc: G.INTERNAL, source: 'downstream', message: 'request header fields too large', close: true },
  WICKET_ERR_UNAUTHENTICATED: { status: 401, grpc: G.UNAUTHENTICATED, source: 'downstream', message: 'authentication required' },
  WICKET_ERR_PERMISSION_DENIED: { status: 403, grpc: G.PERMISSION_DENIED, source: 'downstream', message: 'not allowed' },
  WICKET_ERR_IP_FORBIDDEN: { status: 403, grpc: G.PERMISSION_DENIED, source: 'downstream', message: 'client address not allowed on this route' },
  WICKET_ERR_CORS_REJECTED: { status: 403, grpc: G.PERMISSION_DENIED, source: 'downstream', message: 'cross-origin request not allowed for this origin' },
  WICKET_ERR_UPGRADE_REQUIRED: { status: 426, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'this route serves WebSocket subscribers only' },
  WICKET_ERR_UPGRADE_UNSUPPORTED: { status: 501, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'WebSocket upgrades are served on the HTTP/1.1 listener (listen.http) only' },
  WICKET_ERR_HTTP2_REQUIRED: { status: 505, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'gRPC needs HTTP/2 (listen.h2c or listen.https); use gRPC-Web over HTTP/1.1' },
  WICKET_ERR_WS_CONNECTION_LIMIT: { status: 503, grpc: G.RESOURCE_EXHAUSTED, source: 'downstream', message: 'too many WebSocket connections on this route' },
  WICKET_ERR_PUBSUB_BAD_TOPIC: { status: 400, grpc: G.INVALID_ARGUMENT, source: 'downstream', message: 'invalid or missing topic' },
  WICKET_ERR_VALIDATION: { status: 400, grpc: G.INVALID_ARGUMENT, source: 'downstream', message: 'the request does not match the route\'s schema' },
  WICKET_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, grpc: G.INVALID_ARGUMENT, source: 'downstream', message: 'the request body\'s content type is not accepted here' },
  WICKET_ERR_OPERATION_NOT_FOUND: { status: 404, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'no operation of the API description matches this path' },
  WICKET_ERR_OPERATION_METHOD_NOT_ALLOWED: { status: 405, grpc: G.UNIMPLEMENTED, source: 'downstream', message: 'the API description has no operation for this method on this path' },
  /** The client went away before the answer (access log only: nobody is left to answer). */
  WICKET_ERR_CLIENT_ABORTED: { status: 499, grpc: G.CANCELLED, source: 'downstream', message: 'client closed the request' },
  // --- the upstream ---------------------------------------------------------------------------
  WICKET_ERR_UPSTREAM_CONNECT: { status: 502, grpc: G.UNAVAILABLE, source: 'upstream', message: 'upstream connection failed' },
  WICKET_ERR_UPSTREAM_RESET: { status: 502, grpc: G.UNAVAILABLE, source: 'upstream', message: 'upstream closed the connection' },
  WICKET_ERR_UPSTREAM_PROTOCOL: { status: 502, grpc: G.INTERNAL, source: 'upstream', message: 'invalid upstream response' },
  WICKET_ERR_UPSTREAM_POOL_EXHAUSTED: { status: 503, grpc: G.UNAVAILABLE, source: 'upstream', message: 'every upstream connection is busy' },
  WICKET_ERR_CIRCUIT_OPEN: { status: 503, grpc: G.UNAVAILABLE, source: 'upstream', message: 'upstream circuit open' },
  WICKET_ERR_UPSTREAM_TIMEOUT: { status: 504, grpc: G.DEADLINE_EXCEEDED, source: 'upstream', message: 'upstream timed out' },
  // --- the gateway itself ---------------------------------------------------------------------
  WICKET_ERR_NO_TARGET: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'no upstream target available' },
  WICKET_ERR_RATE_LIMIT_UNAVAILABLE: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'rate limit state unavailable' },
  WICKET_ERR_AUTH_UNAVAILABLE: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'credentials could not be checked now' },
  WICKET_ERR_PUBSUB_UNAVAILABLE: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'the pub/sub broker is unavailable' },
  WICKET_ERR_INTERNAL: { status: 500, grpc: G.INTERNAL, source: 'internal', message: 'internal error' },
  // --- state tiers (thrown to callers; reach clients only as the codes above) ------------------
  WICKET_ERR_REDIS_UNAVAILABLE: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'redis unavailable' },
  WICKET_ERR_REDIS_TIMEOUT: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'redis did not answer in time' },
  WICKET_ERR_SHM_IN_USE: { status: 500, grpc: G.INTERNAL, source: 'internal', message: 'shared-memory segment in use by another gateway' },
  WICKET_ERR_SHM_INVALID: { status: 500, grpc: G.INTERNAL, source: 'internal', message: 'shared-memory segment invalid' },
  WICKET_ERR_SHM_ADDON: { status: 500, grpc: G.INTERNAL, source: 'internal', message: 'shared-memory addon not loaded' },
  // --- config and admin API -------------------------------------------------------------------
  WICKET_ERR_CONFIG_INVALID: { status: 400, grpc: G.INVALID_ARGUMENT, source: 'downstream', message: 'config invalid' },
  WICKET_ERR_ADMIN_UNAUTHORIZED: { status: 401, grpc: G.UNAUTHENTICATED, source: 'downstream', message: 'admin token required' },
  WICKET_ERR_LIMIT_NOT_FOUND: { status: 404, grpc: G.NOT_FOUND, source: 'downstream', message: 'no such route or limit' },
  WICKET_ERR_TARGET_NOT_FOUND: { status: 404, grpc: G.NOT_FOUND, source: 'downstream', message: 'no such upstream target' },
  WICKET_ERR_CONSUMER_NOT_FOUND: { status: 404, grpc: G.NOT_FOUND, source: 'downstream', message: 'no such API-key consumer' },
  WICKET_ERR_CONSUMER_EXISTS: { status: 409, grpc: G.FAILED_PRECONDITION, source: 'downstream', message: 'an API-key consumer of that name exists' },
  WICKET_ERR_API_KEY_NOT_FOUND: { status: 404, grpc: G.NOT_FOUND, source: 'downstream', message: 'no such API key for this consumer' },
  WICKET_ERR_API_KEY_STORE_UNAVAILABLE: { status: 503, grpc: G.UNAVAILABLE, source: 'internal', message: 'the API-key store cannot be read or written now' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The client went away (its connection, or its body reader saw it first): no verdict on any upstream. */
export class ClientAbortedError extends Error {
  readonly code = 'WICKET_ERR_CLIENT_ABORTED';
}

export function errorBody(code: ErrorCode, requestId: string): string {
  return `{"error":{"code":"${code}","message":"${ERRORS[code].message}","requestId":${JSON.stringify(requestId)}}}`;
}

/** Maps an upstream client's error (undici's, Wicket's H1 client's, a socket's) to the table. Both clients' codes are stable. */
export function upstreamErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: string } | null)?.code;
  // undici's parser errors carry no code, only their class name.
  if (code === undefined && (err as { name?: string } | null)?.name === 'HTTPParserError') return 'WICKET_ERR_UPSTREAM_PROTOCOL';
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'WICKET_ERR_UPSTREAM_TIMEOUT':
      return 'WICKET_ERR_UPSTREAM_TIMEOUT';
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'WICKET_ERR_UPSTREAM_CONNECT';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_CLOSED':
      return 'WICKET_ERR_UPSTREAM_RESET';
    case 'WICKET_ERR_BODY_TOO_LARGE':
      return 'WICKET_ERR_BODY_TOO_LARGE';
    case 'WICKET_ERR_MESSAGE_TOO_LARGE':
      return 'WICKET_ERR_MESSAGE_TOO_LARGE';
    case 'WICKET_ERR_REQUEST_TIMEOUT':
      return 'WICKET_ERR_REQUEST_TIMEOUT';
    case 'WICKET_ERR_CLIENT_ABORTED':
      return 'WICKET_ERR_CLIENT_ABORTED';
    case 'WICKET_ERR_UPSTREAM_POOL_EXHAUSTED':
      return 'WICKET_ERR_UPSTREAM_POOL_EXHAUSTED';
    case 'UND_ERR_INVALID_ARG':
      return 'WICKET_ERR_BAD_REQUEST'; // the request can't be expressed upstream (e.g. header bytes)
    case 'HPE_INVALID_CONSTANT':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_INFO':
      return 'WICKET_ERR_UPSTREAM_PROTOCOL';
    default:
      return code && code.startsWith('HPE_') ? 'WICKET_ERR_UPSTREAM_PROTOCOL' : 'WICKET_ERR_UPSTREAM_RESET';
  }
}
