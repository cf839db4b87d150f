// One table of stable error codes. The body is small JSON that never leaks
// internals; `source` says whose fault it was (for logs and metrics).
export type ErrorSource = 'downstream' | 'upstream' | 'internal';

export interface ErrorSpec {
  readonly status: number;
  readonly source: ErrorSource;
  readonly message: string;
  /** Close the client connection after the reply (framing can't be trusted). */
  readonly close?: boolean;
}

export const ERRORS = {
  WICKET_ERR_ROUTE_NOT_FOUND: { status: 404, source: 'downstream', message: 'no route matches this request' },
  WICKET_ERR_BAD_REQUEST: { status: 400, source: 'downstream', message: 'malformed request', close: true },
  WICKET_ERR_BAD_FRAMING: { status: 400, source: 'downstream', message: 'ambiguous or malformed message framing', close: true },
  WICKET_ERR_METHOD_NOT_ALLOWED: { status: 405, source: 'downstream', message: 'method not supported by this gateway' },
  WICKET_ERR_BODY_TOO_LARGE: { status: 413, source: 'downstream', message: 'request body too large', close: true },
  WICKET_ERR_URI_TOO_LONG: { status: 414, source: 'downstream', message: 'request target too long', close: true },
  WICKET_ERR_RATE_LIMITED: { status: 429, source: 'downstream', message: 'rate limit exceeded' },
  WICKET_ERR_HEADERS_TOO_LARGE: { status: 431, source: 'downstream', message: 'request header fields too large', close: true },
  WICKET_ERR_UPSTREAM_CONNECT: { status: 502, source: 'upstream', message: 'upstream connection failed' },
  WICKET_ERR_UPSTREAM_RESET: { status: 502, source: 'upstream', message: 'upstream closed the connection' },
  WICKET_ERR_UPSTREAM_PROTOCOL: { status: 502, source: 'upstream', message: 'invalid upstream response' },
  WICKET_ERR_NO_TARGET: { status: 503, source: 'internal', message: 'no upstream target available' },
  WICKET_ERR_CIRCUIT_OPEN: { status: 503, source: 'upstream', message: 'upstream circuit open' },
  WICKET_ERR_RATE_LIMIT_UNAVAILABLE: { status: 503, source: 'internal', message: 'rate limit state unavailable' },
  WICKET_ERR_WS_CONNECTION_LIMIT: { status: 503, source: 'downstream', message: 'too many WebSocket connections on this route' },
  WICKET_ERR_PUBSUB_BAD_TOPIC: { status: 400, source: 'downstream', message: 'invalid or missing topic' },
  WICKET_ERR_UPGRADE_REQUIRED: { status: 426, source: 'downstream', message: 'this route serves WebSocket subscribers only' },
  WICKET_ERR_PUBSUB_UNAVAILABLE: { status: 503, source: 'internal', message: 'the pub/sub broker is unavailable' },
  WICKET_ERR_UPSTREAM_TIMEOUT: { status: 504, source: 'upstream', message: 'upstream timed out' },
  WICKET_ERR_INTERNAL: { status: 500, source: 'internal', message: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export function errorBody(code: ErrorCode, requestId: string): string {
  return `{"error":{"code":"${code}","message":"${ERRORS[code].message}","requestId":${JSON.stringify(requestId)}}}`;
}

/** Maps an undici (or socket) error to our table. Undici's codes are stable. */
export function upstreamErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: string } | null)?.code;
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
