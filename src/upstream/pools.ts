// One undici Pool per target origin (and pool options), shared across config
// versions so a reload keeps warm keep-alive connections. Pools that no
// route table references any more are closed gracefully after a swap.
import { Pool } from 'undici';

export interface PoolOptions {
  connections: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

export class PoolRegistry {
  readonly #pools = new Map<string, Pool>();

  get(origin: string, o: PoolOptions): Pool {
    const key = `${origin}|${o.connections}|${o.connectTimeoutMs}|${o.headersTimeoutMs}|${o.bodyTimeoutMs}|${o.keepAliveTimeoutMs}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: o.connections,
        pipelining: 1,
        connect: { timeout: o.connectTimeoutMs },
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
        keepAliveTimeout: o.keepAliveTimeoutMs,
        keepAliveMaxTimeout: Math.max(o.keepAliveTimeoutMs, 600_000),
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** Closes pools not in `keep` (in-flight requests finish first). */
  retain(keep: ReadonlySet<Pool>): void {
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
