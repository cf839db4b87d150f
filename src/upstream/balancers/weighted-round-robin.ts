// Smooth weighted round robin (nginx's algorithm), made lock-free across
// workers: every worker computes the same smooth sequence from the weights
// (divided by their gcd) and indexes it with the shared cursor. A target that
// is out of rotation is skipped to the next entry of the sequence.
import type { StateStore } from '../../state/store.js';
import type { Balancer, BalancedTarget, Eligible } from './balancer.js';

/** nginx's smooth WRR, run for one full cycle of sum(weights) picks. */
export function smoothSequence(weights: readonly number[]): Uint16Array {
  const g = weights.reduce((a, b) => gcd(a, b), 0) || 1;
  const w = weights.map((x) => x / g);
  const total = w.reduce((a, b) => a + b, 0);
  const current = new Array<number>(w.length).fill(0);
  const seq = new Uint16Array(total);
  for (let k = 0; k < total; k++) {
    let best = 0;
    for (let i = 0; i < w.length; i++) {
      current[i]! += w[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    seq[k] = best;
  }
  return seq;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

export class WeightedRoundRobin implements Balancer {
  readonly #seq: Uint16Array;
  readonly #store: StateStore;
  readonly #slot: number;

  constructor(targets: readonly BalancedTarget[], store: StateStore, upstreamSlot: number) {
    this.#seq = smoothSequence(targets.map((t) => t.weight));
    this.#store = store;
    this.#slot = upstreamSlot;
  }

  pick(_ctx: unknown, ok: Eligible, retry = false): number {
    const seq = this.#seq;
    const n = seq.length;
    const start = retry ? (Math.random() * n) | 0 : this.#store.nextCursor(this.#slot) % n;
    for (let k = 0; k < n; k++) {
      const i = seq[(start + k) % n]!;
      if (ok(i)) return i;
    }
    return -1;
  }
}
