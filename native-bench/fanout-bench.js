#!/usr/bin/env node
// WebSocket fan-out benchmark: messages/s delivered to 10,000 subscribers by
// Wicket (pubsub route, POST /publish on the admin API, uWS native publish in
// each worker) vs a plain `ws` server sending to each client in a loop
// (ws-fanout-server.js), measured in the same run, interleaved rounds.
//
//   npm run build && node native-bench/fanout-bench.js
//   FANOUT_SUBS=2000 FANOUT_ROUNDS=1 node native-bench/fanout-bench.js    # quick check
//
// Receivers are raw TCP sockets after a WebSocket handshake that only count
// bytes (a 100-byte text message is a 102-byte frame from the server), so
// the client side costs the same for both and parses nothing. A burst is
// FANOUT_BURST messages published at once; its time runs from the publish
// request until every subscriber has every byte. See native-bench/README.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');

const int = (name, def) => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isInteger(n) || n < 1) fail(`${name} must be a positive integer`);
  return n;
};
const SUBS = int('FANOUT_SUBS', 10_000);
const ROUNDS = int('FANOUT_ROUNDS', 5);
const BURSTS = int('FANOUT_BURSTS', 3); // measured bursts per round and contestant (after one warm-up burst)
const BURST = int('FANOUT_BURST', 50); // messages per burst
const BYTES = Math.min(int('FANOUT_BYTES', 100), 125); // one-byte length field: frame = 2 + BYTES
const WORKERS = int('FANOUT_WORKERS', 2);
const MAX_SECONDS = int('FANOUT_MAX_SECONDS', 900); // the whole run
const BURST_TIMEOUT_MS = 60_000;
const TOKEN = 'fanout-bench-token-0123456789';
const FRAME = 2 + BYTES;

function fail(msg) {
  console.error(`[fanout-bench] ERROR: ${msg}`);
  cleanup();
  process.exit(1);
}

const children = [];
function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}
process.on('exit', cleanup);
process.on('SIGINT', () => fail('interrupted'));
setTimeout(() => fail(`run took longer than FANOUT_MAX_SECONDS=${MAX_SECONDS}`), MAX_SECONDS * 1000).unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePorts(n) {
  return Promise.all(
    Array.from({ length: n }, () => new Promise((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    })),
  );
}

function request(port, method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

async function waitHttp(port, urlPath, okStatus, what) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await request(port, 'GET', urlPath)).status === okStatus) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) fail(`${what} not ready in 30 s`);
    await sleep(100);
  }
}

// ------------------------------------------------------------ contestants

async function startWicket() {
  const [port, admin] = await freePorts(2);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wicket-fanout-'));
  const file = path.join(dir, 'wicket.yaml');
  fs.writeFileSync(
    file,
    `workers: ${WORKERS}
listen: { http: { host: 127.0.0.1, port: ${port} } }
admin: { host: 127.0.0.1, port: ${admin}, token: "${TOKEN}" }
log: { level: warn, access: false }
routes:
  - name: live
    match: { path: "/live/:topic" }
    pubsub: { topics: "param:topic" }
`,
  );
  const p = spawn(process.execPath, [CLI, 'start', '--config', file], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(p);
  await waitHttp(admin, '/healthz', 200, 'wicket');
  return {
    name: 'wicket',
    port,
    path: '/live/bench',
    async burst() {
      const body = Buffer.alloc(BYTES, 'x');
      const auth = { authorization: `Bearer ${TOKEN}` };
      // Published at once: the supervisor relays them to each worker in one batch.
      const rs = await Promise.all(Array.from({ length: BURST }, () => request(admin, 'POST', '/publish?topic=bench', body, auth)));
      if (rs.some((r) => r.status !== 202)) fail(`publish: ${rs.find((r) => r.status !== 202).status}`);
    },
    async spread() {
      const r = await request(admin, 'GET', '/pubsub', undefined, { authorization: `Bearer ${TOKEN}` });
      return JSON.parse(r.text).workers.map((w) => w.subscribers).join(' + ');
    },
  };
}

async function startWs() {
  const [port] = await freePorts(1);
  const p = spawn(process.execPath, [path.join(HERE, 'ws-fanout-server.js'), String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(p);
  await waitHttp(port, '/clients', 200, 'ws server');
  return {
    name: 'ws',
    port,
    path: '/',
    async burst() {
      const r = await request(port, 'POST', `/burst?n=${BURST}&bytes=${BYTES}`);
      if (r.status !== 200) fail(`ws burst: ${r.status}`);
    },
    async spread() {
      return (await request(port, 'GET', '/clients')).text;
    },
  };
}

// ------------------------------------------------------------ receivers

/** One raw WebSocket client that counts the bytes after its handshake. */
function receiver(port, urlPath, counter) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    let head = Buffer.alloc(0);
    let open = false;
    s.on('connect', () =>
      s.write(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    s.on('data', (d) => {
      if (open) {
        counter.bytes += d.length;
        if (counter.bytes >= counter.target && counter.done !== null) counter.done();
        return;
      }
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.subarray(0, 12).toString().includes(' 101')) return reject(new Error(`handshake: ${head.subarray(0, end).toString().split('\r\n')[0]}`));
      open = true;
      counter.bytes += head.length - end - 4;
      resolve(s);
    });
    s.on('error', reject);
  });
}

async function connectAll(c) {
  const counter = { bytes: 0, target: Infinity, done: null };
  const socks = [];
  for (let i = 0; i < SUBS; i += 500) {
    socks.push(...(await Promise.all(Array.from({ length: Math.min(500, SUBS - i) }, () => receiver(c.port, c.path, counter)))));
  }
  return { counter, socks };
}

async function closeAll(socks) {
  await Promise.all(socks.map((s) => new Promise((r) => {
    s.once('close', r);
    s.destroy();
  })));
}

/** One burst: publish, then wait until every subscriber has every frame. Returns messages/s delivered. */
async function measure(c, counter) {
  const start = counter.bytes;
  counter.target = start + SUBS * BURST * FRAME;
  const all = new Promise((resolve) => (counter.done = resolve));
  const t0 = performance.now();
  await c.burst();
  const timeout = sleep(BURST_TIMEOUT_MS).then(() => 'timeout');
  const r = await Promise.race([all, timeout]);
  const ms = performance.now() - t0;
  counter.done = null;
  counter.target = Infinity;
  if (r === 'timeout') fail(`${c.name}: a burst did not reach every subscriber in ${BURST_TIMEOUT_MS} ms (${counter.bytes - start} of ${SUBS * BURST * FRAME} bytes)`);
  return (SUBS * BURST) / (ms / 1000);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : `${(n / 1e3).toFixed(0)}k`);

async function main() {
  if (!fs.existsSync(CLI)) fail(`${CLI} missing: run npm run build first`);
  console.log(`[fanout-bench] ${SUBS} subscribers, bursts of ${BURST} x ${BYTES}-byte messages, ${BURSTS} bursts per round, ${ROUNDS} rounds; wicket workers: ${WORKERS}; ${os.cpus().length} CPUs`);
  const contestants = [await startWicket(), await startWs()];
  const results = { wicket: [], ws: [] };
  const ratios = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? contestants : [...contestants].reverse();
    const here = {};
    for (const c of order) {
      const { counter, socks } = await connectAll(c);
      await sleep(500);
      const spread = await c.spread();
      await measure(c, counter); // warm-up
      const rates = [];
      for (let b = 0; b < BURSTS; b++) rates.push(await measure(c, counter));
      here[c.name] = median(rates);
      results[c.name].push(here[c.name]);
      console.log(`  round ${round + 1} ${c.name.padEnd(6)} ${fmt(here[c.name]).padStart(7)} msgs/s delivered (bursts: ${rates.map(fmt).join(', ')}; subscribers: ${spread})`);
      await closeAll(socks);
      await sleep(1000);
    }
    ratios.push(here.wicket / here.ws);
  }
  const w = median(results.wicket);
  const b = median(results.ws);
  console.log(`\n[fanout-bench] median messages/s delivered to ${SUBS} subscribers:`);
  console.log(`  wicket (${WORKERS} workers, uWS publish)  ${fmt(w)}`);
  console.log(`  ws (one process, send loop)     ${fmt(b)}`);
  console.log(`  ratio wicket / ws: ${(w / b).toFixed(1)}x (per-round ratios: ${ratios.map((r) => r.toFixed(1)).join(', ')}; median ${median(ratios).toFixed(1)}x)`);
  cleanup();
  await sleep(300);
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
