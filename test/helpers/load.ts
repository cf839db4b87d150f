// Bounded load loops: `concurrency` clients issuing requests until stopped
// (or `maxMs` passes), counting every failure.
import { Agent, request } from 'undici';

export interface LoadResult {
  ok: number;
  failed: number;
  statuses: Record<number, number>;
  errors: string[];
}

export interface Load {
  stop(): Promise<LoadResult>;
  result: LoadResult;
}

/** Runs `once` (one request, resolving to its status) in `concurrency` loops. */
export function runLoop(concurrency: number, maxMs: number, once: () => Promise<number>, cleanup?: () => Promise<void>): Load {
  const result: LoadResult = { ok: 0, failed: 0, statuses: {}, errors: [] };
  let running = true;
  const deadline = Date.now() + maxMs;
  const one = async () => {
    while (running && Date.now() < deadline) {
      try {
        const status = await once();
        result.statuses[status] = (result.statuses[status] ?? 0) + 1;
        if (status === 200) result.ok++;
        else result.failed++;
      } catch (err) {
        result.failed++;
        if (result.errors.length < 20) result.errors.push(String((err as Error).message ?? err));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, one);
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      await cleanup?.();
      return result;
    },
  };
}

/** Keep-alive clients (one undici Agent). */
export function loadLoop(url: string, concurrency: number, maxMs = 30_000): Load {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  return runLoop(
    concurrency,
    maxMs,
    async () => {
      const r = await request(url, { dispatcher: agent });
      await r.body.dump();
      return r.statusCode;
    },
    () => agent.close(),
  );
}
