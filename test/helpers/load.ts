// A bounded load loop: `concurrency` keep-alive clients issuing requests
// until stopped (or `maxMs` passes), counting every failure.
import { Agent, request } from 'undici';

export interface LoadResult {
  ok: number;
  failed: number;
  statuses: Record<number, number>;
  errors: string[];
}

export function loadLoop(url: string, concurrency: number, maxMs = 30_000): { stop(): Promise<LoadResult>; result: LoadResult } {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  const result: LoadResult = { ok: 0, failed: 0, statuses: {}, errors: [] };
  let running = true;
  const deadline = Date.now() + maxMs;
  const one = async () => {
    while (running && Date.now() < deadline) {
      try {
        const r = await request(url, { dispatcher: agent });
        await r.body.dump();
        result.statuses[r.statusCode] = (result.statuses[r.statusCode] ?? 0) + 1;
        if (r.statusCode === 200) result.ok++;
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
      await agent.close();
      return result;
    },
  };
}
