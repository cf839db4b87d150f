// Weighted random: no shared state needed, the same distribution in every worker.
import type { Balancer, BalancedTarget, Eligible } from './balancer.js';
import { scan } from './balancer.js';

export class WeightedRandom implements Balancer {
  readonly #cumulative: Float64Array;
  readonly #total: number;

  constructor(targets: readonly BalancedTarget[]) {
    this.#cumulative = new Float64Array(targets.length);
    let sum = 0;
    targets.forEach((t, i) => (this.#cumulative[i] = sum += t.weight));
    this.#total = sum;
  }

  pick(_ctx: unknown, ok: Eligible): number {
    const c = this.#cumulative;
    if (c.length === 0) return -1;
    const r = Math.random() * this.#total;
    let i = 0;
    while (i < c.length - 1 && c[i]! <= r) i++;
    return ok(i) ? i : scan(c.length, i + 1, ok);
  }
}
