// A flood of wrong basic-auth passwords (bcrypt cost 10) against a gateway
// with one worker while plain requests run on that same worker: runs
// loadtest/basic-flood.js for a few seconds per phase (its JSON output) and
// checks what must hold whatever the machine's speed: every plain request
// answered 200, the flood answered only 401 (16 connections: the pool and
// its queue hold them all) or 401/503 (64 connections: a full queue is 503 at
// once), the event-loop probe measured inside the gateway worker, the worker
// never replaced, no password in the output. Latency figures are printed;
// the only bound on them is a generous sanity one (no plain request stalled
// behind the hashing: with hashing on the event loop, 16 queued bcrypt
// checks would hold a plain request for over a second).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/gateway.js';

interface Phase {
  flood: number;
  plain: { requests: number; p50: number; p99: number; max: number; failures: Record<string, number> };
  eventLoop: { pid: number; count: number; p99: number; max: number };
  floodResult: { n: number; statuses: Record<string, number> } | null;
}
interface Result {
  variant: string;
  phases: Phase[];
  workerPidsBefore: number[];
  workerPidsAfter: number[];
  workerDied: boolean;
  outputHasPassword: boolean;
}

function runFlood(env: Record<string, string>): Promise<{ meta: unknown; results: Result[] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'loadtest/basic-flood.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('close', (code) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`basic-flood.js exited ${code}:\n${err}`));
      process.stderr.write(err); // the per-phase figures, for the test log
      resolve(JSON.parse(out.trim().split('\n').at(-1)!) as { meta: unknown; results: Result[] });
    });
  });
}

test('wrong-password flood: plain requests on the same worker keep being served, the worker lives', async () => {
  const { meta, results } = await runFlood({ FLOOD_JSON: '1', FLOOD_SECONDS: '3', FLOOD_ROUNDS: '1', FLOOD_VARIANTS: 'nice10', FLOOD_CONNECTIONS: '16,64', FLOOD_CONTROL: '0', PLAIN_RATE: '200' });
  assert.equal(results.length, 1, JSON.stringify(meta));
  const r = results[0]!;
  const [base, x16, x64] = r.phases as [Phase, Phase, Phase];
  for (const p of r.phases) {
    assert.ok(p.plain.requests > 100, `plain requests measured: ${p.plain.requests}`);
    assert.deepEqual(p.plain.failures, {}, `flood x${p.flood}: every plain request answered 200`);
    assert.ok(p.eventLoop.count > 0, 'the probe sampled the worker event loop');
    assert.ok(r.workerPidsBefore.includes(p.eventLoop.pid), 'the probe ran in the gateway worker');
  }
  assert.deepEqual(Object.keys(x16.floodResult!.statuses), ['401'], 'within threads + maxQueue: every wrong password checked and refused');
  const s64 = x64.floodResult!.statuses;
  assert.ok(Object.keys(s64).every((k) => k === '401' || k === '503'), JSON.stringify(s64));
  assert.ok((s64['503'] ?? 0) > 0, 'beyond the queue: 503 at once');
  assert.deepEqual(r.workerPidsAfter, r.workerPidsBefore, 'the same worker process throughout');
  assert.equal(r.workerDied, false);
  assert.equal(r.outputHasPassword, false);
  const ratio = x16.plain.p99 / base.plain.p99;
  process.stderr.write(`plain p99 with a 16-connection flood / without: ${ratio.toFixed(2)} (${x16.plain.p99} ms / ${base.plain.p99} ms)\n`);
  assert.ok(x16.plain.p99 < Math.max(20 * base.plain.p99, 1000), `sanity: plain p99 ${x16.plain.p99} ms under the flood vs ${base.plain.p99} ms without`);
});
