// What may be tried again, and what a failure says about the upstream.
import type { ResolvedRetry } from '../config/load.js';
import type { ErrorCode } from '../pipeline/errors.js';

/**
 * Retry conditions. Errors: connect-failure (refused, unreachable, connect
 * timeout), reset (closed before headers), timeout (per-try or headers
 * timeout). Responses: gateway-error = 502/503/504, and it also covers the
 * three errors above (each would reach the client as a 502 or 504); 5xx =
 * any 5xx, and the errors too.
 */
export function retryWanted(p: ResolvedRetry, status: number, code: ErrorCode | null, err: Error | null): boolean {
  const on = p.on;
  const broad = on.includes('5xx') || on.includes('gateway-error');
  if (code === null) {
    return on.includes('5xx') || (on.includes('gateway-error') && (status === 502 || status === 503 || status === 504)) || p.statuses.includes(status);
  }
  const connect = code === 'WICKET_ERR_UPSTREAM_CONNECT' || (err as { code?: string } | null)?.code === 'UND_ERR_CONNECT_TIMEOUT';
  if (connect) return broad || on.includes('connect-failure');
  if (code === 'WICKET_ERR_UPSTREAM_RESET') return broad || on.includes('reset');
  if (code === 'WICKET_ERR_UPSTREAM_TIMEOUT') return broad || on.includes('timeout');
  return false;
}

/** Errors that say something about the upstream (outlier detection, breaker). */
export const UPSTREAM_FAULTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'WICKET_ERR_UPSTREAM_CONNECT',
  'WICKET_ERR_UPSTREAM_RESET',
  'WICKET_ERR_UPSTREAM_TIMEOUT',
  'WICKET_ERR_UPSTREAM_PROTOCOL',
]);

/** Methods a retry may send again without the route saying so. */
export const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
