#!/usr/bin/env node
// A dependency-free local load run (no k6 needed): N keep-alive connections
// for a bounded time against one URL, printing rps, latency percentiles and
// every non-2xx or error. Every body is read to its end (a framing error
// counts as a failure) and checked against its Content-Length. Loopback only.
//   node loadtest/run.js [URL=http://127.0.0.1:8080/hello] [CONNECTIONS=32] [SECONDS=10]
import { Pool } from 'undici';

const url = new URL(process.argv[2] ?? 'http://127.0.0.1:8080/hello');
const connections = Number(process.argv[3] ?? 32);
const seconds = Math.min(Number(process.argv[4] ?? 10), 300);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
  console.error('loadtest/run.js only targets loopback addresses');
  process.exit(2);
}
const pool = new Pool(url.origin, { connections, pipelining: 1 });
const lat = [];
let ok = 0;
let bad = 0;
const errors = new Map();
const end = Date.now() + seconds * 1000;
async function loop() {
  while (Date.now() < end) {
    const t = performance.now();
    try {
      const r = await pool.request({ path: url.pathname + url.search, method: 'GET' });
      const body = Buffer.from(await r.body.arrayBuffer());
      lat.push(performance.now() - t);
      const cl = r.headers['content-length'];
      if (cl !== undefined && Number(cl) !== body.length) {
        bad++;
        errors.set('length mismatch', (errors.get('length mismatch') ?? 0) + 1);
      } else if (r.statusCode < 300) ok++;
      else {
        bad++;
        errors.set(`HTTP ${r.statusCode}`, (errors.get(`HTTP ${r.statusCode}`) ?? 0) + 1);
      }
    } catch (e) {
      bad++;
      const k = e.code ?? e.message;
      errors.set(k, (errors.get(k) ?? 0) + 1);
    }
  }
}
const t0 = Date.now();
await Promise.all(Array.from({ length: connections }, loop));
const secs = (Date.now() - t0) / 1000;
await pool.close();
lat.sort((a, b) => a - b);
const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))].toFixed(2) : '-');
console.log(`${url.href}  ${connections} connections, ${secs.toFixed(1)} s`);
console.log(`requests ${ok + bad}  ok ${ok}  failed ${bad}  rps ${((ok + bad) / secs).toFixed(0)}`);
console.log(`latency ms  p50 ${pct(50)}  p90 ${pct(90)}  p99 ${pct(99)}  max ${pct(100)}`);
for (const [k, n] of errors) console.log(`  ${k}: ${n}`);
process.exitCode = bad === 0 ? 0 : 1;
