#!/usr/bin/env node
// Slow clients against one upstream, and what they do to everyone else:
// slowhttptest (Debian) opens 1,000 slow-body (-B) or slow-read (-X)
// connections to one proxied route while a checking client measures an
// unrelated route on the same upstream (latency percentiles, every body
// checked byte for byte). Also reports how many upstream connections the
// upstream saw open at the peak. Loopback only, every phase bounded in time.
//
//   npm run build && node loadtest/slow-clients.js
//   SLOW_SECONDS=30 SLOW_CONNECTIONS=1000 WICKET_DIST=/other/checkout/dist node loadtest/slow-clients.js
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(process.env.WICKET_DIST ?? path.join(ROOT, 'dist'), 'src', 'cli.js');
const SECONDS = Math.min(Number(process.env.SLOW_SECONDS ?? 30), 120);
const CONNECTIONS = Math.min(Number(process.env.SLOW_CONNECTIONS ?? 1000), 4000);
const FAST_CLIENTS = 4;
const BIG = Buffer.alloc(1024 * 1024, 0x61);
const FAST = Buffer.from('fast answer '.repeat(5));

if (spawnSync('slowhttptest', ['-h'], { stdio: 'ignore' }).error) {
  console.error('slowhttptest not found: apt-get install slowhttptest');
  process.exit(2);
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// The upstream: /big 1 MiB, /echo reads a POST body, /fast a small answer.
let upConns = 0;
let upPeak = 0;
const upstream = http.createServer((req, res) => {
  if (req.url.startsWith('/big')) {
    req.resume();
    res.writeHead(200, { 'content-length': BIG.length });
    return res.end(BIG);
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = req.url.startsWith('/echo') ? Buffer.from(`got ${Buffer.concat(chunks).length}`) : FAST;
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
});
upstream.on('connection', (s) => {
  upConns++;
  upPeak = Math.max(upPeak, upConns);
  s.on('close', () => upConns--);
});
upstream.keepAliveTimeout = 30_000;
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const upPort = upstream.address().port;

const [port, adminPort] = [await freePort(), await freePort()];
const dir = mkdtempSync(path.join(tmpdir(), 'wicket-slow-'));
const cfg = path.join(dir, 'gateway.yaml');
writeFileSync(
  cfg,
  `workers: 2
listen: { http: { host: 127.0.0.1, port: ${port} } }
admin: { host: 127.0.0.1, port: ${adminPort} }
log: { level: warn, access: false }
upstreams:
  app: { connections: 128, targets: [ { url: "http://127.0.0.1:${upPort}" } ] }
routes:
  - { name: app, match: { path: "/api/*" }, upstream: app, rewrite: { stripPrefix: /api } }
`,
);
const gw = spawn(process.execPath, [CLI, 'start', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
let gwOut = '';
gw.stdout.on('data', (d) => (gwOut += d));
gw.stderr.on('data', (d) => (gwOut += d));
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status === 200) break;
  } catch {}
  if (i > 100) throw new Error(`gateway did not start:\n${gwOut}`);
  await new Promise((r) => setTimeout(r, 100));
}

/** The checking client on /api/fast for `seconds`: latencies, failures by kind. */
async function measure(seconds) {
  const agent = new Agent({ connections: FAST_CLIENTS, keepAliveTimeout: 10_000 });
  const lat = [];
  const failures = {};
  const end = Date.now() + seconds * 1000;
  const loop = async () => {
    while (Date.now() < end) {
      const t = performance.now();
      try {
        const r = await request(`http://127.0.0.1:${port}/api/fast`, { dispatcher: agent, headersTimeout: 15_000, bodyTimeout: 15_000 });
        const body = Buffer.from(await r.body.arrayBuffer());
        lat.push(performance.now() - t);
        if (r.statusCode !== 200) failures[`status ${r.statusCode}`] = (failures[`status ${r.statusCode}`] ?? 0) + 1;
        else if (!body.equals(FAST)) failures.body = (failures.body ?? 0) + 1;
      } catch (e) {
        lat.push(performance.now() - t);
        const k = e.code ?? e.message;
        failures[k] = (failures[k] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: FAST_CLIENTS }, loop));
  await agent.close();
  lat.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] : NaN);
  return { n: lat.length, p50: pct(50), p99: pct(99), max: lat.at(-1) ?? NaN, failures };
}

function slowhttptest(args, seconds) {
  return new Promise((resolve) => {
    const p = spawn('slowhttptest', [...args, '-c', String(CONNECTIONS), '-r', '200', '-l', String(seconds), '-p', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), (seconds + 30) * 1000);
    p.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
  });
}

const results = [];
async function phase(name, args) {
  upPeak = upConns;
  const slow = args === null ? null : slowhttptest(args, SECONDS);
  // Let the slow connections build up first (200/s), then measure.
  if (slow !== null) await new Promise((r) => setTimeout(r, Math.min(8, SECONDS / 3) * 1000));
  const m = await measure(args === null ? 10 : Math.max(5, SECONDS - Math.min(8, SECONDS / 3) - 2));
  const out = slow === null ? '' : await slow;
  // slowhttptest prints its status once a second, in colour: the peak of `connected:`.
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const status = [...plain.matchAll(/connected:\s+(\d+)/g)].map((m) => Number(m[1]));
  const closed = status.length ? String(Math.max(...status)) : undefined;
  results.push({ phase: name, requests: m.n, p50ms: m.p50.toFixed(1), p99ms: m.p99.toFixed(1), maxms: m.max.toFixed(1), failures: JSON.stringify(m.failures), upstreamPeakConns: upPeak, slowConnectedPeak: closed ?? '-' });
  console.log(`[slow-clients] ${name}: p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, max ${m.max.toFixed(1)} ms, ${m.n} requests, failures ${JSON.stringify(m.failures)}, upstream connections at peak ${upPeak}`);
}

try {
  await phase('no slow clients', null);
  await phase(`-B slow bodies x${CONNECTIONS} (POST /api/echo)`, ['-B', '-i', '5', '-s', '8192', '-t', 'POST', '-u', `http://127.0.0.1:${port}/api/echo`]);
  await new Promise((r) => setTimeout(r, 3000));
  await phase(`-X slow reads x${CONNECTIONS} (GET /api/big, 1 MiB)`, ['-X', '-k', '1', '-n', '5', '-w', '10', '-y', '20', '-z', '32', '-u', `http://127.0.0.1:${port}/api/big`]);
} finally {
  gw.kill('SIGTERM');
  upstream.close();
  upstream.closeAllConnections?.();
}
console.table(results);
