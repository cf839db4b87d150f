// A cluster hides its hosts: the proxy asks it for a target and gets one.
// Selection is the configured balancer over the shared counters, restricted to
// targets in rotation (health bits in shared memory: active checks, passive
// ejection, admin). The cluster also carries the upstream's breaker and
// outlier policies, keyed by the shared-state slots the supervisor assigned.
import type { ResolvedUpstream } from '../config/load.js';
import type { RequestContext } from '../pipeline/context.js';
import type { BreakerPolicy, EjectPolicy, StateStore } from '../state/store.js';
import { createBalancer, type Balancer, type Eligible } from './balancers/index.js';
import type { UpstreamDispatcher } from './dispatch-handler.js';
import type { PoolRegistry } from './pools.js';

export interface Target {
  readonly origin: string;
  /** host[:port] of the origin, sent as Host unless the route preserves it. */
  readonly host: string;
  readonly weight: number;
  readonly slot: number;
  readonly pool: UpstreamDispatcher;
}

export class Cluster {
  readonly name: string;
  readonly slot: number;
  readonly targets: readonly Target[];
  readonly store: StateStore;
  readonly breaker: BreakerPolicy | null;
  readonly eject: EjectPolicy | null;
  /** Passive detection counts 5xx answers as failures. */
  readonly eject5xx: boolean;
  /** Connect timeout of the upstream (WebSocket handshakes use it whole). */
  readonly connectTimeoutMs: number;
  /** Headers timeout of the upstream (its clients enforce it; gRPC streams have only their deadline). */
  readonly headersTimeoutMs: number;
  /** h2: requests go over HTTP/2 sessions (src/upstream/h2/), not the HTTP/1.1 pools. */
  readonly protocol: 'http1' | 'h2';
  readonly #balancer: Balancer;
  readonly #panic: boolean;
  readonly #healthy: Eligible;
  readonly #any: Eligible = () => true;

  constructor(spec: ResolvedUpstream, pools: PoolRegistry, store: StateStore) {
    this.name = spec.name;
    this.slot = spec.slot;
    this.store = store;
    this.targets = spec.targets
      .filter((t) => t.weight > 0)
      .map((t) => {
        const u = new URL(t.url);
        return { origin: u.origin, host: u.host, weight: t.weight, slot: t.slot, pool: pools.get(u.origin, spec) };
      });
    this.#balancer = createBalancer(spec.balancer, this.targets, store, spec.slot, spec.hashOn);
    this.#panic = spec.panic;
    this.breaker = spec.circuitBreaker ?? null;
    this.eject = spec.outlierDetection ?? null;
    this.eject5xx = spec.outlierDetection?.on5xx ?? false;
    this.connectTimeoutMs = spec.connectTimeoutMs;
    this.headersTimeoutMs = spec.headersTimeoutMs;
    this.protocol = spec.protocol;
    const targets = this.targets;
    this.#healthy = (i) => store.usable(targets[i]!.slot);
  }

  /**
   * A target in rotation, or null (503). `tried` holds targets a retry must
   * avoid when it has a choice. The balancer is called once per pick: a
   * second call would move a shared cursor twice.
   */
  pick(ctx: RequestContext, tried: readonly Target[] | null = null): Target | null {
    const t = this.targets;
    if (t.length === 0) return null;
    let ok = this.#healthy;
    if (this.#panic && !this.#some(ok)) ok = this.#any; // panic: none healthy, use them all
    if (tried !== null) {
      const base = ok;
      const fresh: Eligible = (k) => !tried.includes(t[k]!) && base(k);
      if (this.#some(fresh)) ok = fresh; // else: all tried, any eligible one again
    }
    const i = this.#balancer.pick(ctx, ok, tried !== null);
    return i < 0 ? null : t[i]!;
  }

  #some(ok: Eligible): boolean {
    for (let i = 0; i < this.targets.length; i++) if (ok(i)) return true;
    return false;
  }
}
