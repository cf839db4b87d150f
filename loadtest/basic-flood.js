#!/usr/bin/env node
// A flood of wrong basic-auth passwords (bcrypt cost 10) against one gateway
// worker while plain requests run on the same worker: the plain requests'
// latency (p50/p99/max, from the client) and the worker's event-loop delay
// (perf_hooks.monitorEventLoopDelay inside the gateway worker, through
// loadtest/event-loop-probe.js), without the flood and with two floods: 16
// connections (threads + maxQueue hold them all: every request costs a
// bcrypt) and 64 connections (most find the queue full: 503 at once), for
// each pool variant (nice 10 = the default, nice 0). A control phase floods
// a route without auth that answers a static 401 with the largest connection
// count: what the same request flood costs when no password is involved.
// Loopback only, every phase bounded.
//
//   npm run build && node loadtest/basic-flood.js
//   FLOOD_SECONDS=5 FLOOD_ROUNDS=3 FLOOD_CONNECTIONS=16,64 PLAIN_RATE=400 node loadtest/basic-flood.js
//   FLOOD_VARIANTS=nice10 FLOOD_JSON=1 node loadtest/basic-flood.js   (one JSON line: what test/basic-flood.test.ts reads)
//
// Threads: the upstream and the flood client each run on a worker thread of
// this process, so the plain client's event loop measures only its own
// requests. The plain client is paced (PLAIN_RATE requests/s over 8
// keep-alive connections), so a slower gateway shows as latency, not as
// fewer requests.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Agent, request } from 'undici';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const PASSWORD = 'the right password';

// --- worker threads: the upstream, the flood ---------------------------------------------------
if (!isMainThread && workerData.role === 'upstream') {
  const body = Buffer.from('plain answer\n');
  const s = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    });
  });
  s.keepAliveTimeout = 30_000;
  s.listen(0, '127.0.0.1', () => parentPort.postMessage(s.address().port));
  parentPort.on('message', () => s.close(() => process.exit(0)) && s.closeAllConnections());
} else if (!isMainThread && workerData.role === 'flood') {
  const { url, connections, seconds } = workerData;
  const agent = new Agent({ connections, keepAliveTimeout: 10_000 });
  const statuses = {};
  let n = 0;
  const end = Date.now() + seconds * 1000;
  const loop = async (c) => {
    for (let i = 0; Date.now() < end; i++) {
      // Distinct wrong passwords: identical ones would share one check.
      const authorization = `Basic ${Buffer.from(`alice:wrong-${c}-${i}`).toString('base64')}`;
      try {
        const r = await request(url, { dispatcher: agent, headers: { authorization }, headersTimeout: 15_000, bodyTimeout: 15_000 });
        await r.body.dump();
        statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      } catch (e) {
        statuses[e.code ?? e.message] = (statuses[e.code ?? e.message] ?? 0) + 1;
      }
      n++;
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, c) => loop(c)));
  await agent.close();
  parentPort.postMessage({ n, statuses });
} else {
  await main();
}

async function main() {
  const { hashSync } = (await import('@node-rs/bcrypt')).default;
  const CLI = path.join(process.env.WICKET_DIST ?? path.join(ROOT, 'dist'), 'src', 'cli.js');
  const SECONDS = Math.min(Math.max(Number(process.env.FLOOD_SECONDS ?? 5), 1), 60);
  const ROUNDS = Math.min(Math.max(Number(process.env.FLOOD_ROUNDS ?? 3), 1), 10);
  const FLOODS = (process.env.FLOOD_CONNECTIONS ?? '16,64').split(',').map((c) => Math.min(Math.max(Number(c) || 1, 1), 512));
  const RATE = Math.min(Math.max(Number(process.env.PLAIN_RATE ?? 400), 10), 5000);
  const JSON_OUT = process.env.FLOOD_JSON === '1';
  const CONTROL = process.env.FLOOD_CONTROL !== '0';
  const ADMIN_TOKEN = randomBytes(16).toString('hex');
  const ALL_VARIANTS = {
    nice10: { threads: 1, maxQueue: 16, niceIncrement: 10 },
    nice0: { threads: 1, maxQueue: 16, niceIncrement: 0 },
    nice19: { threads: 1, maxQueue: 16, niceIncrement: 19 },
    threads2: { threads: 2, maxQueue: 16, niceIncrement: 10 },
  };
  const names = (process.env.FLOOD_VARIANTS ?? 'nice10,nice0').split(',').filter((v) => v in ALL_VARIANTS);
  const say = (s) => (JSON_OUT ? process.stderr : process.stdout).write(`[basic-flood] ${s}\n`);

  const freePort = () =>
    new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
  const getJson = async (url) => (await fetch(url)).json();

  const upstream = new Worker(fileURLToPath(import.meta.url), { workerData: { role: 'upstream' } });
  const upPort = await new Promise((r) => upstream.once('message', r));
  const dir = mkdtempSync(path.join(tmpdir(), 'wicket-flood-'));
  writeFileSync(path.join(dir, 'users.htpasswd'), `alice:${hashSync(PASSWORD, 10)}\n`);

  async function startGateway(v) {
    const [port, adminPort, eldPort] = [await freePort(), await freePort(), await freePort()];
    const cfg = path.join(dir, 'gateway.yaml');
    writeFileSync(
      cfg,
      `workers: 1
listen: { http: { host: 127.0.0.1, port: ${port} } }
admin: { host: 127.0.0.1, port: ${adminPort}, token: "${ADMIN_TOKEN}" }
log: { level: warn, access: false }
upstreams:
  app: { connections: 64, targets: [ { url: "http://127.0.0.1:${upPort}" } ] }
auth:
  basic:
    realms: { staff: { htpasswd: users.htpasswd } }
    threads: ${v.threads}
    maxQueue: ${v.maxQueue}
    niceIncrement: ${v.niceIncrement}
routes:
  - { name: plain, match: { path: "/plain/*" }, upstream: app }
  - { name: static, match: { path: "/static/*" }, respond: { status: 401, body: "no" } }
  - { name: secure, match: { path: "/secure/*" }, upstream: app, auth: { methods: [ { basic: { realm: staff } } ] } }
`,
    );
    const probe = path.join(HERE, 'event-loop-probe.js');
    const env = { ...process.env, WICKET_ELD_PORT: String(eldPort), NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${probe}`.trim() };
    const proc = spawn(process.execPath, [CLI, 'start', '--config', cfg], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status === 200) {
          await getJson(`http://127.0.0.1:${eldPort}/read`);
          break;
        }
      } catch {}
      if (i > 150 || proc.exitCode !== null) throw new Error(`gateway did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const workers = async () => (await fetch(`http://127.0.0.1:${adminPort}/workers`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
    return { port, eldPort, proc, output: () => out, workers };
  }

  /** Paced plain GETs for `seconds`: client latencies and non-200 answers. */
  async function plain(port, seconds) {
    const agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 });
    const lat = [];
    const failures = {};
    const inflight = new Set();
    const interval = 1000 / RATE;
    const start = performance.now();
    for (let i = 0; performance.now() - start < seconds * 1000; i++) {
      const due = start + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const t = performance.now();
      const p = request(`http://127.0.0.1:${port}/plain/x`, { dispatcher: agent, headersTimeout: 15_000, bodyTimeout: 15_000 })
        .then(async (r) => {
          await r.body.text();
          lat.push(performance.now() - t);
          if (r.statusCode !== 200) failures[r.statusCode] = (failures[r.statusCode] ?? 0) + 1;
        })
        .catch((e) => {
          failures[e.code ?? e.message] = (failures[e.code ?? e.message] ?? 0) + 1;
        })
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
    await agent.close();
    return { lat, failures };
  }

  /** Plain latencies of every round of one phase, pooled. */
  function summary(rounds) {
    const lat = rounds.flatMap((r) => r.lat).sort((a, b) => a - b);
    const failures = {};
    for (const r of rounds) for (const [k, n] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + n;
    const pct = (q) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((q / 100) * lat.length))] : NaN);
    return { requests: lat.length, p50: r2(pct(50)), p90: r2(pct(90)), p99: r2(pct(99)), max: r2(lat.at(-1) ?? NaN), failures };
  }
  const r2 = (x) => Math.round(x * 100) / 100;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

  function flood(port, seconds, connections, route) {
    const w = new Worker(fileURLToPath(import.meta.url), { workerData: { role: 'flood', url: `http://127.0.0.1:${port}/${route}/x`, connections, seconds } });
    return new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  }

  async function phase(gw, connections, route = 'secure') {
    await getJson(`http://127.0.0.1:${gw.eldPort}/reset`);
    const f = connections > 0 ? flood(gw.port, SECONDS + 1, connections, route) : null;
    if (f !== null) await new Promise((r) => setTimeout(r, 500)); // the flood is going before we measure
    const p = await plain(gw.port, SECONDS);
    const eld = await getJson(`http://127.0.0.1:${gw.eldPort}/read`);
    const fl = f === null ? null : await f;
    return { plain: p, eventLoop: eld, floodResult: fl };
  }

  const results = [];
  try {
    for (const name of names) {
      const v = ALL_VARIANTS[name];
      const gw = await startGateway(v);
      try {
        // The right password works (and warms the route and the pool).
        const ok = await fetch(`http://127.0.0.1:${gw.port}/secure/x`, { headers: { authorization: `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}` } });
        if (ok.status !== 200) throw new Error(`the right password got ${ok.status}`);
        await plain(gw.port, 1); // warm-up
        const loadBefore = loadavg()[0];
        const before = await gw.workers();
        // Rounds interleave the phases, so drift in the machine's other load falls on all of them.
        const most = Math.max(...FLOODS);
        const plan = [{ flood: 0 }, ...FLOODS.map((c) => ({ flood: c })), ...(CONTROL ? [{ flood: most, control: true }] : [])];
        const runs = plan.map(() => []);
        for (let round = 0; round < ROUNDS; round++) {
          for (const [i, ph] of plan.entries()) runs[i].push(await phase(gw, ph.flood, ph.control ? 'static' : 'secure'));
        }
        const phases = plan.map((ph, i) => {
          const rs = runs[i];
          const statuses = {};
          for (const r of rs) for (const [k, n] of Object.entries(r.floodResult?.statuses ?? {})) statuses[k] = (statuses[k] ?? 0) + n;
          return {
            ...ph,
            plain: summary(rs.map((r) => r.plain)),
            // The worker's event-loop delay: the median of the rounds' p99s, the largest max.
            eventLoop: { pid: rs[0].eventLoop.pid, count: rs.reduce((a, r) => a + r.eventLoop.count, 0), p99: median(rs.map((r) => r.eventLoop.p99)), max: Math.max(...rs.map((r) => r.eventLoop.max)) },
            floodResult: ph.flood === 0 ? null : { n: rs.reduce((a, r) => a + r.floodResult.n, 0), statuses },
          };
        });
        for (const p of phases) {
          const what = p.flood === 0 ? 'no flood' : p.control ? `control x${p.flood} (static 401, no auth)` : `flood x${p.flood}`;
          const answers = p.floodResult === null ? '' : `; flood answers ${JSON.stringify(p.floodResult.statuses)}`;
          say(`${name} ${what}: plain p50 ${p.plain.p50} ms, p99 ${p.plain.p99} ms, max ${p.plain.max} ms (${p.plain.requests} requests); event loop p99 ${p.eventLoop.p99} ms, max ${p.eventLoop.max} ms${answers}`);
        }
        const afterW = await gw.workers();
        const pids = (w) => (w?.workers ?? []).map((x) => x.pid);
        results.push({
          variant: name,
          settings: v,
          phases,
          plainP99Ratio: Object.fromEntries(phases.slice(1).map((p) => [`${p.control ? 'control ' : ''}x${p.flood}`, Math.round((p.plain.p99 / phases[0].plain.p99) * 100) / 100])),
          workerPidsBefore: pids(before),
          workerPidsAfter: pids(afterW),
          workerDied: /worker died/.test(gw.output()),
          outputHasPassword: gw.output().includes(PASSWORD) || gw.output().includes('wrong-'),
          loadavg1m: [r2(loadBefore), r2(loadavg()[0])],
        });
      } finally {
        gw.proc.kill('SIGTERM');
        await new Promise((r) => (gw.proc.exitCode !== null ? r() : gw.proc.once('exit', r)));
      }
    }
  } finally {
    upstream.postMessage('stop');
  }
  const meta = { cpus: cpus().length, cpuModel: cpus()[0]?.model, loadavg: loadavg().map((x) => Math.round(x * 10) / 10), node: process.version, secondsPerPhasePerRound: SECONDS, rounds: ROUNDS, plainRate: RATE };
  if (JSON_OUT) process.stdout.write(`${JSON.stringify({ meta, results })}\n`);
  else {
    console.log(JSON.stringify(meta));
    console.table(
      results.flatMap((r) =>
        r.phases.map((p) => ({
          variant: r.variant,
          flood: p.flood === 0 ? '-' : `${p.control ? 'control ' : ''}x${p.flood}`,
          'plain p50': p.plain.p50,
          'plain p90': p.plain.p90,
          'plain p99': p.plain.p99,
          'plain max': p.plain.max,
          'loop p99': p.eventLoop.p99,
          'loop max': p.eventLoop.max,
          'flood answers': p.floodResult === null ? '-' : JSON.stringify(p.floodResult.statuses),
        })),
      ),
    );
    for (const r of results) console.log(`${r.variant}: plain p99 with flood / without = ${JSON.stringify(r.plainP99Ratio)}`);
  }
}
