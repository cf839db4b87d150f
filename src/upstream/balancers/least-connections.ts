// Least connections over the shared in-flight counts (every worker's
// requests), weighted: the lowest active/weight wins. Ties go to the first
// from a random start so equal targets share the load.
import type { StateStore } from '../../state/store.js';
import type { Balancer, BalancedTarget, Eligible } from './balancer.js';

export class LeastConnections implements Balancer {
  readonly #targets: readonly BalancedTarget[];
  readonly #store: StateStore;

  constructor(targets: readonly BalancedTarget[], store: StateStore) {
    this.#targets = targets;
    this.#store = store;
  }

  pick(_ctx: unknown, ok: Eligible): number {
    const t = this.#targets;
    const n = t.length;
    const start = (Math.random() * n) | 0;
    let best = -1;
    let bestLoad = Infinity;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (!ok(i)) continue;
      const load = this.#store.active(t[i]!.slot) / t[i]!.weight;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
        if (load === 0) break;
      }
    }
    return best;
  }
}
