// Load balancing end to end: a real gateway (2 workers) in front of real
// upstreams on loopback, counting at the upstream side. Every request goes on
// a fresh client connection, so the kernel (SO_REUSEPORT) spreads them over
// both workers. Each upstream also finds out which worker sent a request: the
// gateway worker that owns the other end of the TCP connection (/proc/net/tcp
// and /proc/PID/fd), so the tests can show a decision taken in one worker
// sees what the other worker did.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { RequestContext } from '../src/pipeline/context.js';
import { ConsistentHash } from '../src/upstream/balancers/consistent-hash.js';
import { startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { until } from './helpers/wait.js';

const TEST_TIMEOUT = 90_000;
const ADMIN_TOKEN = 'balancing-test-token';

// ---------------------------------------------------------------- which worker

const hexPort = (p: number): string => p.toString(16).toUpperCase().padStart(4, '0');

/** Inode of the IPv4 loopback TCP socket 127.0.0.1:local -> 127.0.0.1:remote, or null. */
function socketInode(localPort: number, remotePort: number): string | null {
  const want = `0100007F:${hexPort(localPort)} 0100007F:${hexPort(remotePort)}`;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (`${f[1]} ${f[2]}` === want && f[9] !== '0') return f[9] ?? null;
  }
  return null;
}

/** Which of `pids` holds the socket with this inode (0: none). */
function socketOwner(inode: string, pids: readonly number[]): number {
  const link = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === link) return pid;
      } catch {
        // closed while we looked
      }
    }
  }
  return 0;
}

/** The gateway whose workers the upstreams identify (one gateway at a time). */
let current: Gateway | null = null;
const owners = new WeakMap<Socket, number>();

/** The worker pid on the other end of an upstream-side connection (0: unknown). */
function workerOf(sock: Socket, upstreamPort: number): number {
  const known = owners.get(sock);
  if (known !== undefined) return known;
  let pid = 0;
  const inode = current === null ? null : socketInode(sock.remotePort!, upstreamPort);
  if (inode !== null) pid = socketOwner(inode, workerPids(current!));
  owners.set(sock, pid);
  return pid;
}

// ---------------------------------------------------------------- upstreams

interface Hit {
  /** The target's name. */
  t: string;
  /** Worker pid that sent it. */
  w: number;
}

interface Target {
  readonly name: string;
  readonly up: Upstream;
  readonly url: string;
  readonly hits: Hit[];
  /** Requests answered so far. */
  answered: number;
}

interface TargetOptions {
  /** Answer after this long (a slow target). */
  delayMs?: number;
  /** Return true to keep the request (answer it later with `res.end`). */
  hold?: (req: http.IncomingMessage, res: http.ServerResponse, hit: Hit) => boolean;
}

async function target(t: TestContext, name: string, opts: TargetOptions = {}): Promise<Target> {
  const hits: Hit[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let port = 0;
  const tg: Target = { name, up: null as unknown as Upstream, url: '', hits, answered: 0 };
  const answer = (res: http.ServerResponse, hit: Hit): void => {
    const body = JSON.stringify(hit);
    tg.answered++;
    if (res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const up = await startUpstream((req, res) => {
    const hit: Hit = { t: name, w: workerOf(req.socket, port) };
    hits.push(hit);
    req.resume();
    if (opts.hold?.(req, res, hit)) return;
    if (opts.delayMs === undefined) return answer(res, hit);
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer(res, hit);
    }, opts.delayMs);
    timers.add(timer);
  });
  port = up.port;
  Object.assign(tg, { up, url: up.url });
  t.after(async () => {
    for (const timer of timers) clearTimeout(timer);
    await up.close();
  });
  return tg;
}

async function gateway(t: TestContext, yaml: string, adminToken?: string): Promise<Gateway> {
  const gw = await startGateway(yaml, { workers: 2, ...(adminToken ? { adminToken } : {}) });
  current = gw;
  t.after(async () => {
    await gw.stop();
    if (current === gw) current = null;
  });
  assert.ok(await until(() => workerPids(gw).length === 2, 10_000), 'two worker processes');
  return gw;
}

function config(name: string, balancer: string, targets: readonly Target[], extra = '', weights?: readonly number[]): string {
  return [
    'upstreams:',
    `  ${name}:`,
    `    balancer: ${balancer}`,
    extra,
    '    targets:',
    ...targets.map((tg, i) => `      - { url: "${tg.url}"${weights ? `, weight: ${weights[i]}` : ''} }`),
    'routes:',
    '  - name: all',
    '    match: { path: "/*" }',
    `    upstream: ${name}`,
  ]
    .filter((l) => l !== '')
    .join('\n');
}

// ---------------------------------------------------------------- client

/** One GET on a fresh connection (closed afterwards): lands on whichever worker the kernel picks. */
function getFresh(url: string, headers: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** A fresh-connection GET that must answer 200 from a target: which one, and from which worker. */
async function hit(url: string, headers: Record<string, string> = {}): Promise<Hit> {
  const r = await getFresh(url, headers);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as Hit;
}

/** `total` requests from `concurrency` clients, each on a fresh connection. */
async function concurrently(url: string, concurrency: number, total: number): Promise<Hit[]> {
  const out: Hit[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < total) {
        started++;
        out.push(await hit(url));
      }
    }),
  );
  return out;
}

function tally(hits: readonly Hit[], key: (h: Hit) => string | number): Map<string | number, number> {
  const m = new Map<string | number, number>();
  for (const h of hits) m.set(key(h), (m.get(key(h)) ?? 0) + 1);
  return m;
}

async function admin(gw: Gateway, method: string, path: string): Promise<unknown> {
  const r = await fetch(`http://127.0.0.1:${gw.adminPort}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(r.status, 200, `${method} ${path}`);
  return r.json();
}

/** Both workers took part, or the test shows nothing about sharing. */
function assertBothWorkers(gw: Gateway, hits: readonly Hit[], min: number): void {
  const byWorker = tally(hits, (h) => h.w);
  const pids = workerPids(gw);
  assert.equal(pids.length, 2);
  for (const pid of pids) assert.ok((byWorker.get(pid) ?? 0) >= min, `worker ${pid} sent ${byWorker.get(pid) ?? 0} (${JSON.stringify([...byWorker])})`);
  assert.equal(byWorker.get(0), undefined, 'every request was traced to a worker');
}

// ---------------------------------------------------------------- tests

describe('load balancing across 2 workers', { timeout: TEST_TIMEOUT }, () => {
  test('round-robin is global: 300 sequential requests over 3 targets -> exactly 100 each, one rotation across both workers', async (t) => {
    const ts = await Promise.all(['a', 'b', 'c'].map((n) => target(t, n)));
    const gw = await gateway(t, config('rr', 'round-robin', ts));
    const hits: Hit[] = [];
    for (let k = 0; k < 300; k++) hits.push(await hit(`${gw.url}/x/${k}`));
    assert.deepEqual(ts.map((tg) => tg.hits.length), [100, 100, 100]);
    // The shared cursor makes one rotation, whichever worker takes each request:
    // per-worker cursors would repeat a target whenever the worker changes.
    const names = ts.map((tg) => tg.name);
    const first = names.indexOf(hits[0]!.t);
    hits.forEach((h, k) => assert.equal(h.t, names[(first + k) % 3], `request ${k}`));
    assertBothWorkers(gw, hits, 30);
    let switches = 0;
    for (let k = 1; k < hits.length; k++) if (hits[k]!.w !== hits[k - 1]!.w) switches++;
    assert.ok(switches >= 30, `the worker changed ${switches} times`);
    t.diagnostic(`per worker ${JSON.stringify([...tally(hits, (h) => h.w)])}, worker changes ${switches}`);
  });

  test('weighted-round-robin 3:1 -> exactly 3:1 in every 4 consecutive requests, across both workers', async (t) => {
    const ts = await Promise.all(['heavy', 'light'].map((n) => target(t, n)));
    const gw = await gateway(t, config('wrr', 'weighted-round-robin', ts, '', [3, 1]));
    const hits: Hit[] = [];
    for (let k = 0; k < 400; k++) hits.push(await hit(`${gw.url}/x/${k}`));
    assert.deepEqual(ts.map((tg) => tg.hits.length), [300, 100]);
    for (let k = 0; k + 4 <= hits.length; k++) {
      const light = hits.slice(k, k + 4).filter((h) => h.t === 'light').length;
      assert.equal(light, 1, `requests ${k}..${k + 3}: ${hits.slice(k, k + 4).map((h) => h.t)}`);
    }
    assertBothWorkers(gw, hits, 40);
  });

  test('least-connections: a slow target gets clearly fewer of many concurrent requests', async (t) => {
    const slow = await target(t, 'slow', { delayMs: 400 });
    const fast = await target(t, 'fast');
    const gw = await gateway(t, config('lc', 'least-connections', [slow, fast]));
    const hits = await concurrently(`${gw.url}/x`, 24, 480);
    assert.equal(hits.length, 480);
    const share = slow.hits.length / hits.length;
    t.diagnostic(`slow ${slow.hits.length} of ${hits.length}, per worker ${JSON.stringify([...tally(hits, (h) => h.w)])}`);
    assert.ok(share < 0.25, `slow share ${share} (${slow.hits.length} of ${hits.length})`);
    assert.ok(slow.hits.length > 0, 'the slow target is used while it is idle');
    assertBothWorkers(gw, hits, 40);
  });

  test("least-connections: requests held by one worker keep the other worker's requests off that target", async (t) => {
    const K = 4;
    let holder = 0;
    const held: http.ServerResponse[] = [];
    // Target a keeps K requests open, all sent by one worker (the holder); a
    // hold request from the other worker is answered at once (it then ends).
    const a = await target(t, 'a', {
      hold: (req, res, h) => {
        if (req.headers['x-hold'] === undefined) return false;
        if (holder === 0) holder = h.w;
        if (h.w !== holder || held.length >= K) return false;
        held.push(res);
        return true;
      },
    });
    const b = await target(t, 'b');
    const gw = await gateway(t, config('lc', 'least-connections', [a, b]), ADMIN_TOKEN);
    t.after(() => {
      for (const res of held) res.destroy();
    });

    // Only a in rotation while the holds go out.
    await admin(gw, 'POST', '/upstreams/lc/targets/1/disable');
    const holds: Promise<{ status: number; body: string }>[] = [];
    for (let k = 0; k < 200 && held.length < K; k++) {
      const before = a.hits.length;
      holds.push(getFresh(`${gw.url}/hold/${k}`, { 'x-hold': '1' }));
      assert.ok(await until(() => a.hits.length > before, 10_000), 'the hold request reached target a');
    }
    assert.equal(held.length, K, `${K} requests held by worker ${holder}`);
    // Hold requests from the other worker have all ended: only the holder's are in flight.
    assert.ok(await until(() => a.answered === a.hits.length - K, 10_000));
    const other = workerPids(gw).find((p) => p !== holder)!;
    assert.ok(other > 0 && holder > 0);
    const state = (await admin(gw, 'GET', '/upstreams')) as { upstreams: { name: string; targets: { active: number }[] }[] };
    assert.equal(state.upstreams.find((u) => u.name === 'lc')!.targets[0]!.active, K, 'shared in-flight count of target a');
    await admin(gw, 'POST', '/upstreams/lc/targets/1/enable');

    // Fresh requests, one at a time, until the other worker has handled plenty:
    // it never holds anything on a itself, yet must see a's K in flight.
    const probes: Hit[] = [];
    while (probes.filter((h) => h.w === other).length < 15 && probes.length < 300) probes.push(await hit(`${gw.url}/probe`));
    const byWorker = tally(probes, (h) => h.w);
    t.diagnostic(`holder ${holder} holds ${K} on a; probes per worker ${JSON.stringify([...byWorker])}, per target ${JSON.stringify([...tally(probes, (h) => h.t)])}`);
    assert.ok((byWorker.get(other) ?? 0) >= 15, `the other worker handled ${byWorker.get(other) ?? 0} of ${probes.length}`);
    assert.deepEqual(
      probes.filter((h) => h.t !== 'b'),
      [],
      `every probe went to b (other worker ${other}, holder ${holder})`,
    );

    for (const res of held.splice(0)) res.end('released');
    const done = await Promise.all(holds);
    assert.deepEqual(done.map((r) => r.status), Array(done.length).fill(200));
  });

  test('p2c-ewma: a slow target gets clearly fewer of many concurrent requests', async (t) => {
    const slow = await target(t, 'slow', { delayMs: 300 });
    const fast = await target(t, 'fast');
    const gw = await gateway(t, config('p2c', 'p2c-ewma', [slow, fast]));
    const hits = await concurrently(`${gw.url}/x`, 16, 320);
    assert.equal(hits.length, 320);
    const share = slow.hits.length / hits.length;
    t.diagnostic(`slow ${slow.hits.length} of ${hits.length}, per worker ${JSON.stringify([...tally(hits, (h) => h.w)])}`);
    assert.ok(share < 0.25, `slow share ${share} (${slow.hits.length} of ${hits.length})`);
    assert.ok(slow.hits.length > 0, 'a target without a latency sample is tried');
    assertBothWorkers(gw, hits, 30);
  });

  test('consistent-hash on header:x-user: a key always lands on one target; adding a 5th target moves ~1/5 of keys, to it', async (t) => {
    const ts = await Promise.all(['t0', 't1', 't2', 't3', 't4'].map((n) => target(t, n)));
    const four = ts.slice(0, 4);
    const extra = '    hashOn: "header:x-user"';
    const gw = await gateway(t, config('ch', 'consistent-hash', four, extra));
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);

    /** Where Maglev over these targets' origins puts each key (what every worker computes). */
    const predict = (tgs: readonly Target[]): string[] => {
      const ch = new ConsistentHash(
        tgs.map((tg, i) => ({ slot: i, weight: 1, origin: new URL(tg.url).origin })),
        'header:x-user',
      );
      return keys.map((k) => {
        const c = new RequestContext(0);
        c.headers.push('x-user', k);
        return tgs[ch.pick(c, () => true)]!.name;
      });
    };

    /** Each key `times` times on fresh connections (8 at a time): key -> targets seen. */
    const send = async (times: number): Promise<{ where: Map<string, Set<string>>; hits: Hit[] }> => {
      const where = new Map<string, Set<string>>(keys.map((k) => [k, new Set()]));
      const hits: Hit[] = [];
      const jobs = keys.flatMap((k) => Array<string>(times).fill(k));
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < jobs.length) {
            const k = jobs[next++]!;
            const h = await hit(`${gw.url}/x`, { 'x-user': k });
            where.get(k)!.add(h.t);
            hits.push(h);
          }
        }),
      );
      return { where, hits };
    };

    const r1 = await send(3);
    const before = keys.map((k) => {
      const seen = [...r1.where.get(k)!];
      assert.equal(seen.length, 1, `${k} went to ${seen}`);
      return seen[0]!;
    });
    assert.deepEqual(before, predict(four), 'every key on its Maglev target');
    assertBothWorkers(gw, r1.hits, 60);
    for (const tg of four) assert.ok(tg.hits.length > 0, `${tg.name} got keys`);

    gw.writeConfig(config('ch', 'consistent-hash', ts, extra));
    gw.signal('SIGHUP');
    await gw.waitFor('config reloaded', 30_000);

    const r2 = await send(2);
    const after = keys.map((k) => {
      const seen = [...r2.where.get(k)!];
      assert.equal(seen.length, 1, `${k} went to ${seen} after the reload`);
      return seen[0]!;
    });
    assert.deepEqual(after, predict(ts), 'every key on its Maglev target after the reload');
    assertBothWorkers(gw, r2.hits, 40);

    const moved = keys.filter((_, i) => before[i] !== after[i]).length;
    const toNew = keys.filter((_, i) => before[i] !== after[i] && after[i] === 't4').length;
    // Ideal: 1/5 of 200 = 40, all to t4. The origins are random ports, so the
    // band is wide; the unit tests pin the property down on fixed origins.
    t.diagnostic(`${moved} of 200 keys moved, ${toNew} to the new target`);
    assert.ok(moved >= 16 && moved <= 72, `${moved} of 200 keys moved`);
    assert.ok(toNew / moved >= 0.8, `${toNew} of ${moved} moved keys went to the new target`);
  });
});
