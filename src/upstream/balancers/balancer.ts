// The balancer contract: given the request and a filter of targets it may
// use (healthy, not already tried), return a target index or -1. Every
// balancer reads the shared counters, so all workers balance as one.
import type { RequestContext } from '../../pipeline/context.js';

export interface BalancedTarget {
  /** Shared-state slot of the target. */
  readonly slot: number;
  readonly weight: number;
  /** Stable identity (the origin URL) for hashing. */
  readonly origin: string;
}

export type Eligible = (index: number) => boolean;

export interface Balancer {
  /**
   * `retry`: a pick for a retry. Cursor-based balancers then start at random
   * rather than move the shared cursor: a retry taking the next turn would
   * put every request's first try back on the same target.
   */
  pick(ctx: RequestContext, ok: Eligible, retry?: boolean): number;
}

/** First eligible index from `start` on, wrapping; -1 when none. */
export function scan(n: number, start: number, ok: Eligible): number {
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (ok(i)) return i;
  }
  return -1;
}
