// Round robin on one cursor in shared memory: worker 1's pick advances the
// cursor worker 2 reads, so the rotation is global, not per worker.
import type { StateStore } from '../../state/store.js';
import { scan, type Balancer, type BalancedTarget, type Eligible } from './balancer.js';

export class RoundRobin implements Balancer {
  readonly #n: number;
  readonly #store: StateStore;
  readonly #slot: number;

  constructor(targets: readonly BalancedTarget[], store: StateStore, upstreamSlot: number) {
    this.#n = targets.length;
    this.#store = store;
    this.#slot = upstreamSlot;
  }

  pick(_ctx: unknown, ok: Eligible, retry = false): number {
    const start = retry ? (Math.random() * this.#n) | 0 : this.#store.nextCursor(this.#slot) % this.#n;
    return scan(this.#n, start, ok);
  }
}
