// Power of two choices with peak EWMA (Finagle/Linkerd): sample two distinct
// eligible targets at random and take the one with the lower
// latency x (in-flight + 1) / weight. Both numbers come from shared memory,
// so a target made busy by worker 2 looks busy to worker 1.
import type { StateStore } from '../../state/store.js';
import type { Balancer, BalancedTarget, Eligible } from './balancer.js';
import { scan } from './balancer.js';

/**
 * Cost of a target with no latency sample yet that already has requests in
 * flight (Finagle's Penalty): it takes one probe at a time until its first
 * answer, instead of every request while that answer is pending.
 */
const PENALTY_US = 2 ** 31;

export class P2cEwma implements Balancer {
  readonly #targets: readonly BalancedTarget[];
  readonly #store: StateStore;

  constructor(targets: readonly BalancedTarget[], store: StateStore) {
    this.#targets = targets;
    this.#store = store;
  }

  #cost(i: number): number {
    const t = this.#targets[i]!;
    const active = this.#store.active(t.slot);
    const ewma = this.#store.ewmaUs(t.slot);
    // No sample yet: free while idle, so a new target gets tried, but only
    // one request at a time (the in-flight count is shared by all workers).
    if (ewma === 0) return active === 0 ? 0 : (PENALTY_US * active) / t.weight;
    return (ewma * (active + 1)) / t.weight;
  }

  pick(_ctx: unknown, ok: Eligible): number {
    const n = this.#targets.length;
    if (n <= 1) return n === 1 && ok(0) ? 0 : -1;
    let a = (Math.random() * n) | 0;
    let b = (Math.random() * (n - 1)) | 0;
    if (b >= a) b++;
    if (!ok(a)) a = scan(n, a + 1, ok);
    if (a < 0) return -1;
    if (!ok(b) || b === a) {
      b = scan(n, (b + 1) % n, (i) => i !== a && ok(i));
      if (b < 0) return a;
    }
    return this.#cost(a) <= this.#cost(b) ? a : b;
  }
}
