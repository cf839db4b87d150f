// One upstream pool per target origin (and pool options), shared across
// config versions so a reload keeps warm keep-alive connections. Pools that
// no route table references any more are closed gracefully after a swap.
// http: targets use Wicket's H1Pool unless the upstream asks for undici;
// https: targets always use undici (TLS); `protocol: h2` upstreams an
// H2Dispatcher over the worker's HTTP/2 session per origin.
import { Pool } from 'undici';
import { H1Pool, type PoolOptions } from './h1/pool.js';
import { H2Dispatcher } from './h2/dispatcher.js';
import type { UpstreamDispatcher } from './dispatch-handler.js';

export type { PoolOptions } from './h1/pool.js';

export class PoolRegistry {
  readonly #pools = new Map<string, UpstreamDispatcher>();

  get(origin: string, o: PoolOptions & { readonly protocol: 'http1' | 'h2' }): UpstreamDispatcher {
    const client = o.protocol === 'h2' ? 'h2' : origin.startsWith('https:') ? 'undici' : o.client;
    const key = `${client}|${origin}|${o.connections}|${o.connectTimeoutMs}|${o.headersTimeoutMs}|${o.bodyTimeoutMs}|${o.keepAliveTimeoutMs}|${o.poolWaitMs}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = client === 'h2' ? new H2Dispatcher(origin, o) : client === 'wicket' ? new H1Pool(origin, o) : undiciPool(origin, o);
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes pools not in `keep` (in-flight requests finish first). */
  retain(keep: ReadonlySet<UpstreamDispatcher>): void {
    for (const [key, pool] of this.#pools) {
      if (!keep.has(pool)) {
        this.#pools.delete(key);
        pool.close().catch(() => {});
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }
}

function undiciPool(origin: string, o: PoolOptions): UpstreamDispatcher {
  // undici's Pool takes the same request shape and legacy handler callbacks.
  return new Pool(origin, {
    connections: o.connections,
    pipelining: 1,
    connect: { timeout: o.connectTimeoutMs },
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    keepAliveTimeout: o.keepAliveTimeoutMs,
    keepAliveMaxTimeout: Math.max(o.keepAliveTimeoutMs, 600_000),
  }) as unknown as UpstreamDispatcher;
}
