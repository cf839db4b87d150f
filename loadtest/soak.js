#!/usr/bin/env node
// A bounded soak: a gateway (2 workers) under checked keep-alive load, then
// a fault load (an upstream that resets), then idle; per worker it samples
// RSS, V8 heap (GET /workers), and open fds, and says whether RSS came back
// within 10% of where the load started. Loopback only.
//
//   npm run build && node loadtest/soak.js
//   SOAK_SECONDS=480 SOAK_FAULT_SECONDS=30 SOAK_IDLE_SECONDS=60 node loadtest/soak.js
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkedLoad, describeLoad, predictableUpstream } from '../dist/test/helpers/load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const LOAD_S = Math.min(Number(process.env.SOAK_SECONDS ?? 60), 1800);
const FAULT_S = Math.min(Number(process.env.SOAK_FAULT_SECONDS ?? 15), 600);
const IDLE_S = Math.min(Number(process.env.SOAK_IDLE_SECONDS ?? 30), 600);
const TOKEN = 'soak-admin-token-0123456789';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const upstream = http.createServer((req, res) => {
  if (req.url.includes('/fault/')) return req.socket.destroy(); // reset before any answer
  predictableUpstream(req, res);
});
upstream.keepAliveTimeout = 30_000;
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));

const [port, adminPort] = [await freePort(), await freePort()];
const dir = mkdtempSync(path.join(tmpdir(), 'wicket-soak-'));
const cfg = path.join(dir, 'gateway.yaml');
writeFileSync(
  cfg,
  `workers: 2
listen: { http: { host: 127.0.0.1, port: ${port} } }
admin: { host: 127.0.0.1, port: ${adminPort}, token: "${TOKEN}" }
log: { level: warn, access: false }
upstreams:
  app: { targets: [ { url: "http://127.0.0.1:${upstream.address().port}" } ] }
routes:
  - { name: app, match: { path: "/api/*" }, upstream: app }
`,
);
const gw = spawn(process.execPath, [CLI, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
let out = '';
gw.stdout.on('data', (d) => (out += d));
gw.stderr.on('data', (d) => (out += d));
const admin = (p) => fetch(`http://127.0.0.1:${adminPort}${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
for (let i = 0; ; i++) {
  try {
    if ((await admin('/healthz')).status === 200) break;
  } catch {}
  if (i > 100) throw new Error(`gateway did not start:\n${out}`);
  await sleep(100);
}

const MiB = (n) => (n / 1048576).toFixed(1);
const fds = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
};
const vmRss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
const samples = [];
async function sample(phase) {
  const w = (await (await admin('/workers')).json()).workers;
  for (const x of w) {
    samples.push({ phase, t: Math.round(performance.now() / 1000), pid: x.pid, rss: vmRss(x.pid), heapUsed: x.memory?.heapUsed, heapTotal: x.memory?.heapTotal, external: x.memory?.external, fds: fds(x.pid) });
  }
}
async function during(phase, seconds, every = 5) {
  for (let s = 0; s < seconds; s += every) {
    await sleep(Math.min(every, seconds - s) * 1000);
    await sample(phase);
  }
}

await sleep(2000);
await sample('idle, start');
const base = `http://127.0.0.1:${port}/api`;
const load = checkedLoad([`${base}/x`, `${base}/cl/16384`, `${base}/chunked/65536`], { concurrency: 32, maxMs: LOAD_S * 1000 });
await sleep(5000);
await sample('load, 5 s in');
const loadStart = samples.filter((s) => s.phase === 'load, 5 s in');
await during('load', LOAD_S - 5, Math.max(5, Math.round(LOAD_S / 12)));
const r = await load.stop();
console.log(`[soak] load: ${describeLoad(r).slice(0, 300)}`);
const fault = checkedLoad([`${base}/fault/a`], { concurrency: 32, maxMs: FAULT_S * 1000 });
await during('fault load', FAULT_S, 5);
const f = await fault.stop();
console.log(`[soak] fault load: ${f.ok + f.failed} requests, statuses ${JSON.stringify(f.statuses)}`);
await during('idle after', IDLE_S, 5);

gw.kill('SIGTERM');
upstream.close();
upstream.closeAllConnections?.();

const rows = samples.map((s) => ({ phase: s.phase, t: s.t, pid: s.pid, rssMiB: MiB(s.rss), heapUsedMiB: MiB(s.heapUsed), heapTotalMiB: MiB(s.heapTotal), externalMiB: MiB(s.external), fds: s.fds }));
console.table(rows);
const last = new Map(samples.filter((s) => s.phase === 'idle after').map((s) => [s.pid, s]));
const idle = new Map(samples.filter((s) => s.phase === 'idle, start').map((s) => [s.pid, s]));
let ok = r.failed === 0;
for (const s0 of loadStart) {
  const s1 = last.get(s0.pid);
  const i0 = idle.get(s0.pid);
  const peak = Math.max(...samples.filter((s) => s.pid === s0.pid).map((s) => s.rss));
  const pct = (a, b) => `${((a / b) * 100).toFixed(0)}%`;
  console.log(`[soak] worker ${s0.pid}: RSS idle ${MiB(i0.rss)} MiB, ${MiB(s0.rss)} at load start, peak ${MiB(peak)}, ${MiB(s1.rss)} after ${IDLE_S} s idle (${pct(s1.rss, s0.rss)} of load start, ${pct(s1.rss, i0.rss)} of idle); heap used ${MiB(s1.heapUsed)} of ${MiB(s1.heapTotal)} MiB; fds ${i0.fds} -> ${s1.fds}`);
  if (s1.rss > s0.rss * 1.1) ok = false;
}
console.log(ok ? '[soak] RSS back within 10% of the load start, no failed request' : '[soak] NOT within 10% of the load start (or requests failed)');
process.exitCode = ok ? 0 : 1;
