// A cluster hides its hosts: the proxy asks it for a target and gets one.
// Round robin per worker for now; shared-memory balancers replace it.
import type { UpstreamDispatcher } from './dispatch-handler.js';
import type { PoolOptions, PoolRegistry } from './pools.js';

export interface Target {
  readonly origin: string;
  /** host[:port] of the origin, sent as Host unless the route preserves it. */
  readonly host: string;
  readonly weight: number;
  readonly pool: UpstreamDispatcher;
}

export interface ClusterSpec extends PoolOptions {
  readonly targets: readonly { url: string; weight: number }[];
}

export class Cluster {
  readonly name: string;
  readonly targets: readonly Target[];
  #next = 0;

  constructor(name: string, spec: ClusterSpec, pools: PoolRegistry) {
    this.name = name;
    this.targets = spec.targets
      .filter((t) => t.weight > 0)
      .map((t) => {
        const u = new URL(t.url);
        return { origin: u.origin, host: u.host, weight: t.weight, pool: pools.get(u.origin, spec) };
      });
  }

  /** Null when there is no target to send to (503). */
  pick(): Target | null {
    const t = this.targets;
    if (t.length === 0) return null;
    const i = this.#next;
    this.#next = i + 1 === t.length ? 0 : i + 1;
    return t[i]!;
  }
}
