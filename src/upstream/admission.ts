// The first steps of every upstream call, whatever its protocol (HTTP/1.1
// and HTTP/2 ProxyCall, WebSocket tunnel): the breaker admits or not,
// the cluster's balancer picks a target; and the last step: the outcome is
// recorded once (outlier detection, breaker), in shared memory, so every
// worker sees it.
import type { RequestContext } from '../pipeline/context.js';
import type { ErrorCode } from '../pipeline/errors.js';
import { reportError } from '../pipeline/report.js';
import { ADMIT_TRIAL } from '../state/store.js';
import type { Cluster, Target } from './cluster.js';
import type { Filter } from '../pipeline/filter.js';

export interface Admitted {
  readonly target: Target;
  /** A half-open breaker's trial request: its outcome decides the circuit. */
  readonly trial: boolean;
}

/**
 * breaker admit -> balancer pick (avoiding `tried` when there is a choice).
 * A refusal is an error code; an open circuit sets ctx.retryAfter.
 */
export function admit(cluster: Cluster, ctx: RequestContext, tried: readonly Target[] | null): Admitted | ErrorCode {
  const store = cluster.store;
  let trial = false;
  if (cluster.breaker !== null) {
    const wait = store.breakerAdmit(cluster.slot, cluster.breaker);
    if (wait > 0) {
      store.count('circuitRejected');
      ctx.retryAfter = Math.ceil(wait / 1000);
      return 'WICKET_ERR_CIRCUIT_OPEN';
    }
    trial = wait === ADMIT_TRIAL;
  }
  const target = cluster.pick(ctx, tried);
  if (target === null) {
    if (trial) store.breakerRelease(cluster.slot);
    store.count('noTarget');
    return 'WICKET_ERR_NO_TARGET';
  }
  return { target, trial };
}

/** A try's verdict on its target: breaker always, outlier detection unless `skipEject` (a 5xx the upstream does not eject on). */
export function recordOutcome(cluster: Cluster, a: Admitted, ok: boolean, skipEject = false): void {
  if (!skipEject || ok) cluster.store.recordOutcome(a.target.slot, ok, cluster.eject);
  if (cluster.breaker !== null) cluster.store.breakerRecord(cluster.slot, cluster.breaker, ok, a.trial);
}

/** No verdict (the client's fault, or it left): a trial slot goes back. */
export function releaseTrial(cluster: Cluster, a: Admitted): void {
  if (a.trial) cluster.store.breakerRelease(cluster.slot);
}

/** The route's onUpstreamRequest filters over the headers about to go upstream; false when one threw (the call fails with WICKET_ERR_INTERNAL). */
export function upstreamFilters(route: { readonly onUpstreamRequest: readonly Filter[] | null }, ctx: RequestContext, headers: string[]): boolean {
  const fs = route.onUpstreamRequest;
  if (fs === null) return true;
  for (const f of fs) {
    try {
      f.onUpstreamRequest!(ctx, headers);
    } catch (err) {
      reportError(err, `filter ${f.name} onUpstreamRequest`, ctx);
      return false;
    }
  }
  return true;
}
