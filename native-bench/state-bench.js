#!/usr/bin/env node
// Micro-benchmark of shared state (DESIGN §2): what one counter or
// rate-limit operation costs on the shared-memory segment, next to a local
// Map and a Redis round trip. One process, one run, all figures in ns/op.
//
//   npm run build && node native-bench/state-bench.js
//
// Each in-process case is calibrated to take about BENCH_STATE_REP_MS per
// repetition, warmed up once, then repeated BENCH_STATE_REPS times; the table
// shows the median (and the spread) and the ratio to a bare Atomics.add on the
// segment. Redis cases need a server at BENCH_REDIS (default 127.0.0.1:6379)
// and are skipped without one. The whole run is bounded to 60 s.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import { Counter } from '../dist/src/state/layout.js';
import { createSegment, unlinkSegment } from '../dist/src/state/segment.js';
import { ShmStore } from '../dist/src/state/shm-store.js';

const REPS = Number(process.env.BENCH_STATE_REPS ?? 7);
const REP_MS = Number(process.env.BENCH_STATE_REP_MS ?? 100);
const [REDIS_HOST, REDIS_PORT] = (process.env.BENCH_REDIS ?? '127.0.0.1:6379').split(':');
const REDIS_SEQ_OPS = 3000; // awaited INCRs per repetition
const REDIS_BATCH = 1000; // INCRs per pipeline
const REDIS_BATCHES = 20; // pipelines per repetition

const SEG = `/wicket-bench-${process.pid}`;
const cleanup = () => {
  try {
    unlinkSegment(SEG);
  } catch {}
};
setTimeout(() => {
  console.error('state-bench: over 60 s, giving up');
  cleanup();
  process.exit(1);
}, 60_000).unref();
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** `body(n)` runs n operations; returns ns/op per repetition. */
function measure(body) {
  let n = 1000;
  for (;;) {
    const t = performance.now();
    body(n);
    const ms = performance.now() - t;
    if (ms >= REP_MS / 4) {
      n = Math.max(1000, Math.round((n * REP_MS) / ms));
      break;
    }
    n *= 4;
  }
  body(n); // warm-up at full size
  const out = [];
  for (let r = 0; r < REPS; r++) {
    const t = process.hrtime.bigint();
    body(n);
    out.push(Number(process.hrtime.bigint() - t) / n);
  }
  return out;
}

async function measureAsync(reps, ops, body) {
  await body(); // warm-up (connection, JIT)
  const out = [];
  for (let r = 0; r < reps; r++) {
    const t = process.hrtime.bigint();
    await body();
    out.push(Number(process.hrtime.bigint() - t) / ops);
  }
  return out;
}

const { segment } = createSegment(SEG, { targets: 64, upstreams: 16, workerSlots: 16, tableCells: 65536 });
const results = [];
try {
  const store = new ShmStore(segment, 0);
  const shmWords = new Int32Array(segment.sab, segment.layout.counters, 64);
  const localWords = new Int32Array(new SharedArrayBuffer(256));
  const table = store.table;
  const key = 'rl:route-api:10.1.2.3';
  table.update(key, 60, (v) => v); // the key exists: every case below takes the update path

  // GCRA (generic cell rate algorithm) on a theoretical arrival time in ns:
  // 20 M/s with a 1 s burst, so every take is allowed and writes (the CAS path).
  const EMISSION = 50n;
  const BURST = 1_000_000_000n;
  let allowed = 0;
  const gcraTake = () => {
    const now = BigInt(Date.now()) * 1_000_000n;
    let ok = false;
    table.update(key, 60, (tat) => {
      const next = (tat > now ? tat : now) + EMISSION;
      ok = next - now <= BURST;
      return ok ? next : tat;
    });
    if (ok) allowed++;
  };
  const map = new Map();

  const cases = [
    ['Atomics.add on the shm segment', (n) => { for (let i = 0; i < n; i++) Atomics.add(shmWords, Counter.requests, 1); }],
    ['Atomics.add, process-local SAB', (n) => { for (let i = 0; i < n; i++) Atomics.add(localWords, 0, 1); }],
    ["store.count('requests')", (n) => { for (let i = 0; i < n; i++) store.count('requests'); }],
    ['store.begin(t) + store.end(t)', (n) => { for (let i = 0; i < n; i++) { store.begin(3); store.end(3); } }],
    ['table.update(key, v => v + 1n)', (n) => { const inc = (v) => v + 1n; for (let i = 0; i < n; i++) table.update(key, 60, inc); }],
    ['table.update, GCRA take', (n) => { for (let i = 0; i < n; i++) gcraTake(); }],
    ['Map get + set (one process only)', (n) => { for (let i = 0; i < n; i++) map.set(key, (map.get(key) ?? 0) + 1); }],
  ];
  for (const [name, body] of cases) results.push({ name, ns: measure(body) });
  if (allowed === 0) throw new Error('GCRA case never allowed a take');

  const redis = new Redis({
    host: REDIS_HOST,
    port: Number(REDIS_PORT),
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  const rkey = `wicket-bench:${process.pid}`;
  try {
    await redis.connect();
    const seq = await measureAsync(REPS, REDIS_SEQ_OPS, async () => {
      for (let i = 0; i < REDIS_SEQ_OPS; i++) await redis.incr(rkey);
    });
    results.push({ name: 'Redis INCR, awaited one by one', ns: seq });
    const piped = await measureAsync(REPS, REDIS_BATCH * REDIS_BATCHES, async () => {
      for (let b = 0; b < REDIS_BATCHES; b++) {
        const p = redis.pipeline();
        for (let i = 0; i < REDIS_BATCH; i++) p.incr(rkey);
        await p.exec();
      }
    });
    results.push({ name: `Redis INCR, pipelined ${REDIS_BATCH}/batch`, ns: piped });
    await redis.del(rkey);
    await redis.quit();
  } catch (err) {
    redis.disconnect();
    results.push({ name: `Redis (${REDIS_HOST}:${REDIS_PORT})`, skipped: err.message });
  }
} finally {
  cleanup();
}

const base = median(results[0].ns);
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
console.log(`state-bench  ${new Date().toISOString()}  node ${process.version}  ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}`);
console.log(`${REPS} repetitions per case; ns/op median (min-max); x = median / bare Atomics.add on the segment\n`);
console.log(`${'case'.padEnd(40)}${'ns/op'.padStart(10)}  ${'spread'.padEnd(17)}${'x'.padStart(9)}${'ops/s'.padStart(14)}`);
for (const r of results) {
  if (r.skipped) {
    console.log(`${r.name.padEnd(40)}  skipped: ${r.skipped}`);
    continue;
  }
  const m = median(r.ns);
  const spread = `${fmt(Math.min(...r.ns))}-${fmt(Math.max(...r.ns))}`;
  const ops = Math.round(1e9 / m).toLocaleString('en-US');
  console.log(`${r.name.padEnd(40)}${fmt(m).padStart(10)}  ${spread.padEnd(17)}${(m / base).toFixed(1).padStart(9)}${ops.padStart(14)}`);
}
