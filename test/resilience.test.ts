// Resilience against failing upstreams, with two workers sharing one state
// segment: the circuit breaker (consecutive failures, failure ratio, half-open
// trials), passive outlier detection (ejection, growing ejection time),
// retries (conditions, idempotency, bodies, exhaustion, per-try and total
// timeouts, budget), and in-flight counts that never leak (client aborts, a
// worker killed mid-request). Every request goes on a fresh connection so the
// kernel spreads them over both workers; the admin API is read for the
// shared state every worker sees.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { freePorts, startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep, until } from './helpers/wait.js';
import type { UpstreamView } from './helpers/admin-view.js';

const TOKEN = 'resilience-admin-token-0123';

// --- clients -----------------------------------------------------------------

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface SendOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
}

/** One request on a new connection (so either worker may take it). */
function send(gw: Gateway, path: string, o: SendOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = http.request({ host: '127.0.0.1', port: gw.port, path, method: o.method ?? 'GET', agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`no answer to ${path} in 20 s`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** A request left open until `abort()` (the client goes away mid-exchange). */
function open(gw: Gateway, path: string): { abort(): void; reply: Promise<Reply | Error> } {
  const req = http.request({ host: '127.0.0.1', port: gw.port, path, agent: false });
  let answered = false;
  const reply = new Promise<Reply | Error>((resolve) => {
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', resolve);
      res.on('close', () => {
        if (!res.complete) resolve(new Error('response cut'));
      });
    });
    req.on('error', resolve);
    req.on('close', () => {
      if (!answered) resolve(new Error('closed before a response'));
    });
  });
  req.end();
  return { abort: () => req.destroy(), reply };
}

interface ErrorJson {
  error: { code: string; message: string; requestId: string };
}

function errorCode(r: Reply): string {
  try {
    return (JSON.parse(r.body) as ErrorJson).error.code;
  } catch {
    return `(not a gateway error: ${r.status} ${r.body.slice(0, 80)})`;
  }
}

// --- admin -------------------------------------------------------------------


async function adminGet<T>(gw: Gateway, path: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${gw.adminPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, `admin GET ${path}`);
  return (await r.json()) as T;
}

async function upstreams(gw: Gateway): Promise<Map<string, UpstreamView>> {
  const body = await adminGet<{ upstreams: UpstreamView[] }>(gw, '/upstreams');
  return new Map(body.upstreams.map((u) => [u.name, u]));
}

async function upstream(gw: Gateway, name: string): Promise<UpstreamView> {
  const u = (await upstreams(gw)).get(name);
  assert.ok(u, `admin lists upstream ${name}`);
  return u;
}

async function counters(gw: Gateway): Promise<Record<string, number>> {
  return (await adminGet<{ counters: Record<string, number> }>(gw, '/state')).counters;
}

async function workerPids(gw: Gateway): Promise<number[]> {
  const body = await adminGet<{ workers: { pid?: number; ready: boolean }[] }>(gw, '/workers');
  return body.workers.flatMap((w) => (w.pid === undefined ? [] : [w.pid]));
}

/** The worker that made a request id (ids start with the worker's pid in base 36). */
function workerOf(requestId: string | undefined, pids: number[]): number | undefined {
  let best: number | undefined;
  let len = 0;
  for (const pid of pids) {
    const p = pid.toString(36);
    if (requestId?.startsWith(p) && p.length > len) {
      best = pid;
      len = p.length;
    }
  }
  return best;
}

/** Polls an async condition every 50 ms until true or `ms` passes. */
async function eventually(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

/** Every target of every upstream has nothing in flight (polled: counts drop after the reply). */
async function assertIdle(gw: Gateway): Promise<void> {
  let last = '';
  const ok = await eventually(async () => {
    const busy = [...(await upstreams(gw)).values()].flatMap((u) =>
      u.targets.filter((t) => t.active !== 0 || t.retrying !== 0).map((t) => `${u.name}[${t.index}] active ${t.active} retrying ${t.retrying}`),
    );
    last = busy.join(', ');
    return busy.length === 0;
  }, 10_000);
  assert.ok(ok, `in-flight counts left behind: ${last}`);
}

// --- upstreams -----------------------------------------------------------------

type Mode = 'ok' | 'fail' | 'alternate' | 'e503' | 'slow' | 'hold' | 'read';

/** A real upstream whose behaviour a test switches; answers carry its name. */
interface Server {
  readonly name: string;
  readonly up: Upstream;
  readonly url: string;
  mode: Mode;
  /** Requests seen. */
  hits(): number;
  /** Responses held by 'hold', until release(). */
  held: http.ServerResponse[];
  /** Held responses the gateway gave up on (their connection closed unanswered). */
  dropped: number;
  release(): void;
}

/** `log` gets the name of each server in the order requests arrive. */
async function server(name: string, mode: Mode, log?: string[]): Promise<Server> {
  const answer = (res: http.ServerResponse, status: number, body: string): void => {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  let n = 0;
  const s: Server = {
    name,
    mode,
    up: undefined as unknown as Upstream,
    url: '',
    hits: () => s.up.seen.length,
    held: [],
    dropped: 0,
    release: () => {
      for (const res of s.held.splice(0)) if (!res.destroyed) answer(res, 200, name);
    },
  };
  const up = await startUpstream((req, res) => {
    req.resume();
    log?.push(name);
    n++;
    switch (s.mode) {
      case 'ok':
        return answer(res, 200, name);
      case 'read': // answers once the whole request body arrived
        req.on('end', () => answer(res, 200, name));
        return;
      case 'fail':
        return answer(res, 500, `${name} failed`);
      case 'alternate':
        return n % 2 === 0 ? answer(res, 500, `${name} failed`) : answer(res, 200, name);
      case 'e503':
        return answer(res, 503, name);
      case 'slow': {
        // Answers after 2 s, unless the gateway gave up first.
        const t = setTimeout(() => answer(res, 200, name), 2_000);
        res.on('close', () => clearTimeout(t));
        return;
      }
      case 'hold':
        s.held.push(res);
        res.on('close', () => {
          if (!res.writableEnded) s.dropped++;
        });
        return;
    }
  });
  Object.assign(s, { up, url: up.url });
  return s;
}

/** Sends `n` GETs one after another on fresh connections. */
async function sequential(gw: Gateway, path: string, n: number, o: SendOptions = {}): Promise<Reply[]> {
  const out: Reply[] = [];
  for (let i = 0; i < n; i++) out.push(await send(gw, path, o));
  return out;
}

const tally = (rs: Reply[]): Record<number, number> => {
  const t: Record<number, number> = {};
  for (const r of rs) t[r.status] = (t[r.status] ?? 0) + 1;
  return t;
};

// --- a. circuit breaker ------------------------------------------------------

describe('circuit breaker, shared by both workers', { timeout: 90_000 }, () => {
  const OPEN_MS = 3000;
  let gw: Gateway;
  let cb: Server;
  let ratio: Server;
  let lost: Server;
  let pids: number[];

  before(async () => {
    cb = await server('cb', 'fail');
    ratio = await server('ratio', 'alternate');
    lost = await server('lost', 'fail');
    const [refused] = await freePorts(1); // bound once and released: nothing listens there
    gw = await startGateway(
      `upstreams:
  cb:
    targets: [{ url: "${cb.url}" }]
    circuitBreaker: { consecutiveFailures: 5, failureRatio: 0, openMs: ${OPEN_MS}, halfOpenRequests: 2 }
  ratio:
    targets: [{ url: "${ratio.url}" }]
    circuitBreaker: { failureRatio: 0.5, minRequests: 10, windowMs: 600000, openMs: 60000 }
  refused:
    targets: [{ url: "http://127.0.0.1:${refused}" }]
    circuitBreaker: { consecutiveFailures: 3, failureRatio: 0, openMs: 60000 }
  lost:
    targets: [{ url: "${lost.url}" }]
    circuitBreaker: { consecutiveFailures: 1, failureRatio: 0, openMs: 1000, halfOpenRequests: 1 }
routes:
  - { name: lost, match: { path: "/lost/*" }, upstream: lost }
  - { name: cb, match: { path: "/cb/*" }, upstream: cb }
  - { name: ratio, match: { path: "/ratio/*" }, upstream: ratio }
  - { name: refused, match: { path: "/refused/*" }, upstream: refused }
`,
      { workers: 2, adminToken: TOKEN },
    );
    pids = await workerPids(gw);
    assert.equal(pids.length, 2);
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([cb?.up.close(), ratio?.up.close(), lost?.up.close()]);
  });

  /** Requests on fresh connections while the circuit is open: all rejected, by both workers, none reaching the upstream. */
  async function expectOpen(path: string, s: Server, maxRetryAfter: number, budgetMs: number): Promise<void> {
    const hits = s.hits();
    const seen = new Set<number>();
    const t0 = Date.now();
    let n = 0;
    while ((seen.size < 2 || n < 10) && n < 100 && Date.now() - t0 < budgetMs) {
      const r = await send(gw, path);
      n++;
      assert.equal(r.status, 503, `request ${n} while open: ${r.body}`);
      assert.equal(errorCode(r), 'WICKET_ERR_CIRCUIT_OPEN');
      const ra = Number(r.headers['retry-after']);
      assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= maxRetryAfter, `Retry-After ${r.headers['retry-after']}`);
      const w = workerOf(r.headers['x-request-id'] as string | undefined, pids);
      assert.ok(w !== undefined, `x-request-id ${r.headers['x-request-id']} names a worker`);
      seen.add(w);
    }
    assert.equal(seen.size, 2, `both workers answered (${n} requests)`);
    assert.equal(s.hits(), hits, 'no request reached the upstream while the circuit was open');
  }

  test('5 consecutive failures open it: 503 WICKET_ERR_CIRCUIT_OPEN with Retry-After from both workers, upstream untouched', async () => {
    const before = await counters(gw);
    const first = await sequential(gw, '/cb/x', 5);
    assert.deepEqual(tally(first), { 500: 5 }, 'the failures themselves pass through');
    assert.equal(cb.hits(), 5);
    await expectOpen('/cb/x', cb, Math.ceil(OPEN_MS / 1000), OPEN_MS - 1000);
    const u = await upstream(gw, 'cb');
    assert.equal(u.circuit?.state, 'open');
    assert.equal(u.circuit?.opens, 1);
    const after = await counters(gw);
    assert.equal(after.circuitOpened! - before.circuitOpened!, 1);
    assert.ok(after.circuitRejected! - before.circuitRejected! >= 10);
  });

  test('after openMs, half-open admits exactly halfOpenRequests trials; passing trials close it', async () => {
    cb.mode = 'hold';
    assert.ok(await eventually(async () => (await upstream(gw, 'cb')).circuit!.openForMs >= OPEN_MS, OPEN_MS + 5000), 'open time over');
    const hits = cb.hits();
    const calls = Array.from({ length: 6 }, () => send(gw, '/cb/x'));
    const replies: Reply[] = [];
    for (const c of calls) void c.then((r) => replies.push(r));
    assert.ok(await until(() => replies.length === 4 && cb.held.length === 2, 10_000), `4 rejected + 2 trials held (replies ${replies.length}, held ${cb.held.length})`);
    for (const r of replies) {
      assert.equal(r.status, 503);
      assert.equal(errorCode(r), 'WICKET_ERR_CIRCUIT_OPEN');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    assert.equal(cb.hits() - hits, 2, 'only the trials reached the upstream');
    assert.equal((await upstream(gw, 'cb')).circuit?.state, 'half-open');
    cb.mode = 'ok';
    cb.release();
    const all = await Promise.all(calls);
    assert.deepEqual(tally(all), { 200: 2, 503: 4 });
    const u = await upstream(gw, 'cb');
    assert.equal(u.circuit?.state, 'closed');
    assert.equal(u.circuit?.consecutiveFailures, 0);
    // Traffic flows again, through both workers.
    const seen = new Set<number>();
    const rs: Reply[] = [];
    for (let i = 0; i < 100 && (seen.size < 2 || i < 10); i++) {
      const before = cb.hits();
      const r = await send(gw, '/cb/x');
      rs.push(r);
      const w = workerOf(cb.up.seen[before]?.headers['x-request-id'] as string | undefined, pids);
      if (w !== undefined) seen.add(w);
    }
    assert.deepEqual(Object.keys(tally(rs)), ['200']);
    assert.equal(seen.size, 2, 'both workers proxy again');
  });

  test('a failed trial re-opens it at once', async () => {
    cb.mode = 'fail';
    assert.deepEqual(tally(await sequential(gw, '/cb/x', 5)), { 500: 5 });
    assert.equal((await send(gw, '/cb/x')).status, 503);
    let u = await upstream(gw, 'cb');
    assert.equal(u.circuit?.state, 'open');
    assert.equal(u.circuit?.opens, 2);
    assert.ok(await eventually(async () => (await upstream(gw, 'cb')).circuit!.openForMs >= OPEN_MS, OPEN_MS + 5000), 'open time over');
    const hits = cb.hits();
    const trial = await send(gw, '/cb/x');
    assert.equal(trial.status, 500, 'the trial reached the failing upstream');
    assert.equal(cb.hits() - hits, 1);
    u = await upstream(gw, 'cb');
    assert.equal(u.circuit?.state, 'open');
    assert.equal(u.circuit?.opens, 3);
    await expectOpen('/cb/x', cb, Math.ceil(OPEN_MS / 1000), OPEN_MS - 1000);
    cb.mode = 'ok';
  });

  test('failureRatio + minRequests: opens once half of 10 requests in the window failed', async () => {
    const rs = await sequential(gw, '/ratio/x', 10);
    assert.deepEqual(
      rs.map((r) => r.status),
      [200, 500, 200, 500, 200, 500, 200, 500, 200, 500],
    );
    const u = await upstream(gw, 'ratio');
    assert.equal(u.circuit?.state, 'open');
    assert.equal(u.circuit?.windowRequests, 10);
    assert.equal(u.circuit?.windowFailures, 5);
    await expectOpen('/ratio/x', ratio, 60, 30_000);
    assert.equal(ratio.hits(), 10);
  });

  test('a refusing target (connect failures) opens it too', async () => {
    const rs = await sequential(gw, '/refused/x', 3);
    assert.deepEqual(tally(rs), { 502: 3 });
    for (const r of rs) assert.equal(errorCode(r), 'WICKET_ERR_UPSTREAM_CONNECT');
    assert.equal((await upstream(gw, 'refused')).circuit?.state, 'open');
    const r = await send(gw, '/refused/x');
    assert.equal(r.status, 503);
    assert.equal(errorCode(r), 'WICKET_ERR_CIRCUIT_OPEN');
  });

  test('a trial whose client went away is given back: the next request is the trial', async () => {
    assert.equal((await send(gw, '/lost/x')).status, 500);
    assert.equal((await upstream(gw, 'lost')).circuit?.state, 'open');
    assert.ok(await eventually(async () => (await upstream(gw, 'lost')).circuit!.openForMs >= 1000, 6000), 'open time over');
    lost.mode = 'hold';
    const hits = lost.hits();
    const trial = open(gw, '/lost/x');
    assert.ok(await eventually(async () => lost.hits() > hits, 5000), 'the trial reached the upstream');
    trial.abort();
    await trial.reply;
    assert.ok(await eventually(async () => lost.dropped > 0, 5000), 'the gateway gave up the held trial');
    lost.mode = 'ok';
    // Not given back, the only trial slot would stay taken for 2 x openMs + 1 s (3 s).
    const r = await send(gw, '/lost/x');
    assert.equal(r.status, 200, r.body);
    assert.equal((await upstream(gw, 'lost')).circuit?.state, 'closed');
  });

  test('no in-flight counts left behind', async () => {
    await assertIdle(gw);
  });
});

// --- b. passive outlier detection ------------------------------------------------

describe('passive outlier detection', { timeout: 90_000 }, () => {
  const BASE_MS = 1500;
  let gw: Gateway;
  let a: Server;
  let b: Server;
  let b2: Server;
  let a3: Server;
  let b3: Server;
  let c1: Server;

  before(async () => {
    c1 = await server('c1', 'read');
    a = await server('a', 'ok');
    b = await server('b', 'ok');
    b2 = await server('b2', 'ok');
    a3 = await server('a3', 'fail');
    b3 = await server('b3', 'ok');
    const [refused] = await freePorts(1);
    gw = await startGateway(
      `upstreams:
  od:
    balancer: round-robin
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
    outlierDetection: { consecutiveFailures: 3, on5xx: true, baseEjectionMs: ${BASE_MS}, maxEjectionMs: 60000 }
  odr:
    balancer: round-robin
    targets: [{ url: "http://127.0.0.1:${refused}" }, { url: "${b2.url}" }]
    outlierDetection: { consecutiveFailures: 2, baseEjectionMs: 60000 }
  od5:
    balancer: round-robin
    targets: [{ url: "${a3.url}" }, { url: "${b3.url}" }]
    outlierDetection: { consecutiveFailures: 2, on5xx: false, baseEjectionMs: 60000 }
  odc:
    targets: [{ url: "${c1.url}" }]
    outlierDetection: { consecutiveFailures: 2, baseEjectionMs: 60000 }
    circuitBreaker: { consecutiveFailures: 2, failureRatio: 0, openMs: 60000 }
routes:
  - { name: odc, match: { path: "/odc/*" }, upstream: odc, maxBodyBytes: 100 }
  - { name: od, match: { path: "/od/*" }, upstream: od }
  - { name: odr, match: { path: "/odr/*" }, upstream: odr }
  - { name: od5, match: { path: "/od5/*" }, upstream: od5 }
`,
      { workers: 2, adminToken: TOKEN },
    );
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([a, b, b2, a3, b3, c1].map((s) => s?.up.close()));
  });

  test("a client's own failure (a chunked upload over the limit) neither ejects the target nor opens the circuit", async () => {
    const upload = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: gw.port, path: '/odc/up', method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.write('x'.repeat(80));
        setTimeout(() => req.end('y'.repeat(400)), 20); // streamed past the limit after the upstream call began
      });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await upload().catch(() => 0));
    assert.ok(statuses.every((x) => x === 413 || x === 0), `uploads over the limit: ${statuses.join(',')}`);
    const u = await upstream(gw, 'odc');
    assert.equal(u.targets[0]!.down.ejected, false);
    assert.equal(u.targets[0]!.failures, 0);
    assert.equal(u.circuit?.state, 'closed');
    assert.equal((await send(gw, '/odc/x')).status, 200);
  });

  /** Sends GETs until `s` has seen `n` more requests; returns the replies. */
  async function until5xx(s: Server, n: number): Promise<Reply[]> {
    const goal = s.hits() + n;
    const rs: Reply[] = [];
    while (s.hits() < goal) {
      assert.ok(rs.length < 40, `target ${s.name} got ${s.hits()} of ${goal} requests after ${rs.length} tries`);
      rs.push(await send(gw, '/od/x'));
    }
    return rs;
  }

  test('a target failing with 5xx is ejected after 3 in a row; traffic goes to the other', async () => {
    a.mode = 'fail';
    const rs = await until5xx(a, 3);
    assert.equal(tally(rs)[500], 3, 'exactly the 3 failures reached the client');
    const t = (await upstream(gw, 'od')).targets;
    assert.equal(t[0]!.healthy, false);
    assert.deepEqual(t[0]!.down, { check: false, admin: false, ejected: true });
    assert.ok(t[0]!.ejectedForMs > 0 && t[0]!.ejectedForMs <= BASE_MS, `ejectedForMs ${t[0]!.ejectedForMs}`);
    assert.equal(t[0]!.ejections, 1);
    assert.equal(t[1]!.healthy, true);
    const hits = a.hits();
    // Few enough to finish inside the ejection time on any machine; checked below.
    const t0 = Date.now();
    const more = await sequential(gw, '/od/x', 10);
    if (Date.now() - t0 < BASE_MS - 200) {
      assert.deepEqual(tally(more), { 200: 10 });
      assert.equal(a.hits(), hits, 'the ejected target got nothing');
    }
  });

  test('it comes back after baseEjectionMs; the second ejection lasts twice as long', async () => {
    assert.ok(await eventually(async () => (await upstream(gw, 'od')).targets[0]!.healthy, BASE_MS + 10_000), 'back in rotation');
    assert.equal((await upstream(gw, 'od')).targets[0]!.down.ejected, false);
    // Still failing: ejected again, now for 2 x base.
    const rs = await until5xx(a, 3);
    assert.equal(tally(rs)[500], 3);
    const t = (await upstream(gw, 'od')).targets[0]!;
    assert.equal(t.down.ejected, true);
    assert.equal(t.ejections, 2);
    assert.ok(t.ejectedForMs > BASE_MS && t.ejectedForMs <= 2 * BASE_MS, `second ejection ${t.ejectedForMs} ms, want (${BASE_MS}, ${2 * BASE_MS}]`);
    // Healthy again: back after the longer ejection, and it takes traffic.
    a.mode = 'ok';
    assert.ok(await eventually(async () => (await upstream(gw, 'od')).targets[0]!.healthy, 2 * BASE_MS + 10_000), 'back in rotation');
    const hits = a.hits();
    assert.deepEqual(tally(await sequential(gw, '/od/x', 6)), { 200: 6 });
    assert.ok(a.hits() > hits, 'the target takes traffic again');
  });

  test('a refusing target is ejected after 2 connect failures', async () => {
    const rs = await sequential(gw, '/odr/x', 12);
    const t = tally(rs);
    assert.equal(t[502], 2, `statuses ${JSON.stringify(t)}`);
    assert.equal(t[200], 10);
    const u = await upstream(gw, 'odr');
    assert.equal(u.targets[0]!.down.ejected, true);
    assert.equal(u.targets[0]!.failures, 2);
    assert.equal(b2.hits(), 10);
  });

  test('on5xx: false: 5xx answers do not eject', async () => {
    const rs = await sequential(gw, '/od5/x', 10);
    assert.deepEqual(tally(rs), { 200: 5, 500: 5 });
    const t = (await upstream(gw, 'od5')).targets[0]!;
    assert.equal(t.down.ejected, false);
    assert.equal(t.ejections, 0);
    assert.equal(t.healthy, true);
  });

  test('no in-flight counts left behind', async () => {
    await assertIdle(gw);
  });
});

// --- c. retries ---------------------------------------------------------------

describe('retries', { timeout: 120_000 }, () => {
  let gw: Gateway;
  const log: string[] = [];
  const s: Record<string, Server> = {};

  before(async () => {
    for (const [name, mode] of [
      ['refB', 'ok'],
      ['gA', 'e503'],
      ['gB', 'ok'],
      ['x', 'e503'],
      ['y', 'e503'],
      ['slowS', 'slow'],
      ['fastF', 'ok'],
      ['slow1', 'slow'],
      ['slow2', 'slow'],
      ['budB', 'ok'],
    ] as const) {
      s[name] = await server(name, mode, log);
    }
    const [c1, c2, c3, c4] = await freePorts(4);
    const closed = (p: number | undefined) => `{ url: "http://127.0.0.1:${p}" }`;
    const t = (name: string) => `{ url: "${s[name]!.url}" }`;
    gw = await startGateway(
      `upstreams:
  ref: { targets: [${closed(c1)}, ${t('refB')}] }
  gwe: { targets: [${t('gA')}, ${t('gB')}] }
  all503: { targets: [${t('x')}, ${t('y')}] }
  dead: { targets: [${closed(c2)}, ${closed(c3)}] }
  slowfast: { targets: [${t('slowS')}, ${t('fastF')}] }
  slowslow: { targets: [${t('slow1')}, ${t('slow2')}] }
  budget: { targets: [${closed(c4)}, ${t('budB')}] }
routes:
  - { name: ref, match: { path: "/ref/*" }, upstream: ref, retry: { attempts: 1 } }
  - { name: refnon, match: { path: "/refnon/*" }, upstream: ref, retry: { attempts: 1, nonIdempotent: true } }
  - { name: gwe, match: { path: "/gwe/*" }, upstream: gwe, retry: { attempts: 1, on: [gateway-error] } }
  - { name: gwe-connect-only, match: { path: "/gwec/*" }, upstream: gwe, retry: { attempts: 1, on: [connect-failure] } }
  - { name: x, match: { path: "/x/*" }, upstream: all503, retry: { attempts: 2, on: [gateway-error] } }
  - { name: dead, match: { path: "/dead/*" }, upstream: dead, retry: { attempts: 1 } }
  - { name: pertry, match: { path: "/pt/*" }, upstream: slowfast, timeoutMs: 5000, retry: { attempts: 1, perTryTimeoutMs: 300, on: [timeout] } }
  - { name: pertry-default, match: { path: "/ptd/*" }, upstream: slowfast, timeoutMs: 5000, retry: { attempts: 1, perTryTimeoutMs: 300 } }
  - { name: total, match: { path: "/tt/*" }, upstream: slowslow, timeoutMs: 800, retry: { attempts: 3, on: [timeout] } }
  - { name: total-pertry, match: { path: "/ttp/*" }, upstream: slowslow, timeoutMs: 1000, retry: { attempts: 3, perTryTimeoutMs: 600, on: [timeout] } }
  - { name: budget, match: { path: "/bud/*" }, upstream: budget, retry: { attempts: 1, budgetRatio: 0, budgetMin: 0 } }
`,
      { workers: 2, adminToken: TOKEN },
    );
  });

  after(async () => {
    await gw?.stop();
    await Promise.all(Object.values(s).map((x) => x.up.close()));
  });

  test('GET: a refusing target is retried on the healthy one, no error reaches the client', async () => {
    const before = await counters(gw);
    const hits = s.refB!.hits();
    const rs = await sequential(gw, '/ref/x', 30);
    assert.deepEqual(tally(rs), { 200: 30 }, rs.filter((r) => r.status !== 200).map((r) => r.body).join('\n'));
    for (const r of rs) assert.equal(r.body, 'refB');
    assert.equal(s.refB!.hits() - hits, 30);
    const after = await counters(gw);
    // First tries alternate on the shared cursor; a retry does not move it
    // (else every first try would land on the same target).
    assert.equal(after.retries! - before.retries!, 15, 'exactly every other first try hit the refusing target');
  });

  test('requests with a body are never retried, non-idempotent ones only with nonIdempotent', async () => {
    const before = await counters(gw);
    const post = await sequential(gw, '/ref/x', 10, { method: 'POST', body: 'payload' });
    const t1 = tally(post);
    assert.ok((t1[502] ?? 0) > 0 && (t1[200] ?? 0) > 0, `POST with body: some 502 (not retried), some 200: ${JSON.stringify(t1)}`);
    for (const r of post) if (r.status === 502) assert.equal(errorCode(r), 'WICKET_ERR_UPSTREAM_CONNECT');
    const put = tally(await sequential(gw, '/ref/x', 10, { method: 'PUT', body: 'payload' }));
    assert.ok((put[502] ?? 0) > 0, `PUT (idempotent) with a body is not retried either: ${JSON.stringify(put)}`);
    const nonIdemBody = tally(await sequential(gw, '/refnon/x', 10, { method: 'POST', body: 'payload' }));
    assert.ok((nonIdemBody[502] ?? 0) > 0, `nonIdempotent does not make a body retryable: ${JSON.stringify(nonIdemBody)}`);
    const bare = tally(await sequential(gw, '/ref/x', 10, { method: 'POST', headers: { 'content-length': '0' } }));
    assert.ok((bare[502] ?? 0) > 0, `POST without body, not nonIdempotent: not retried: ${JSON.stringify(bare)}`);
    const mid = await counters(gw);
    assert.equal(mid.retries, before.retries, 'none of these was retried');
    const bareNon = tally(await sequential(gw, '/refnon/x', 10, { method: 'POST', headers: { 'content-length': '0' } }));
    assert.deepEqual(bareNon, { 200: 10 }, 'POST without body on a nonIdempotent route is retried');
  });

  test("'gateway-error': a 503 from one target is retried on the other", async () => {
    const a = s.gA!.hits();
    const rs = await sequential(gw, '/gwe/x', 10);
    assert.deepEqual(tally(rs), { 200: 10 });
    for (const r of rs) assert.equal(r.body, 'gB');
    assert.ok(s.gA!.hits() > a, 'the 503 target was tried');
    // Without gateway-error in `on`, the 503 passes through.
    const only = tally(await sequential(gw, '/gwec/x', 10));
    assert.ok((only[503] ?? 0) > 0, `503 passed through when not retried on: ${JSON.stringify(only)}`);
  });

  test('attempts exhausted: the last error is returned', async () => {
    const from = log.length;
    const r = await send(gw, '/x/y');
    const tries = log.slice(from);
    assert.equal(tries.length, 3, `1 try + 2 retries, got ${tries.join(',')}`);
    assert.deepEqual(new Set(tries.slice(0, 2)), new Set(['x', 'y']), 'the retry went to the other target first');
    assert.equal(r.status, 503);
    assert.equal(r.body, tries[2], 'the answer is the last try’s');
    const dead = await send(gw, '/dead/y');
    assert.equal(dead.status, 502);
    assert.equal(errorCode(dead), 'WICKET_ERR_UPSTREAM_CONNECT');
  });

  test('perTryTimeoutMs: a slow target is given up for the fast one, well before the route timeout', async () => {
    const slow = s.slowS!.hits();
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      const r = await send(gw, '/pt/x');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'fastF', 'answered by the fast target (the slow one answers after 2 s)');
      assert.ok(Date.now() - t0 < 5000, 'within the route timeout');
    }
    assert.ok(s.slowS!.hits() > slow, 'the slow target was tried first at least once');
  });

  test('a per-try timeout is retried with the default conditions (gateway-error covers it)', async () => {
    const slow = s.slowS!.hits();
    for (let i = 0; i < 4; i++) {
      const r = await send(gw, '/ptd/x');
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, 'fastF');
    }
    assert.ok(s.slowS!.hits() > slow, 'the slow target was tried first at least once');
  });

  test('route timeoutMs bounds all tries: 504, and no retry once it expired', async () => {
    let from = log.length;
    const r = await send(gw, '/tt/x');
    assert.equal(r.status, 504);
    assert.equal(errorCode(r), 'WICKET_ERR_UPSTREAM_TIMEOUT');
    await sleep(1500);
    assert.equal(log.length - from, 1, `a try that timed out with the route is not retried (tries: ${log.slice(from).join(',')})`);
    // Per-try 600 ms inside a total of 1000 ms: the second try is cut by the total, no third.
    from = log.length;
    const r2 = await send(gw, '/ttp/x');
    assert.equal(r2.status, 504);
    assert.equal(errorCode(r2), 'WICKET_ERR_UPSTREAM_TIMEOUT');
    await sleep(1500);
    assert.equal(log.length - from, 2, `tries: ${log.slice(from).join(',')}`);
  });

  test('retry budget: budgetRatio 0 and budgetMin 0 allow no retry', async () => {
    const before = await counters(gw);
    const rs = await sequential(gw, '/bud/x', 10);
    const t = tally(rs);
    assert.ok((t[502] ?? 0) > 0, `tries on the refusing target fail: ${JSON.stringify(t)}`);
    const after = await counters(gw);
    assert.equal(after.retries, before.retries, 'no retry happened');
    assert.ok(after.retriesDeniedByBudget! - before.retriesDeniedByBudget! >= (t[502] ?? 0), 'each denied retry is counted');
  });

  test('no in-flight counts left behind', async () => {
    await assertIdle(gw);
  });
});

// --- d. in-flight counts -------------------------------------------------------

describe('in-flight counts never leak', { timeout: 90_000 }, () => {
  let gw: Gateway;
  let h1: Server;
  let h2: Server;
  let h3: Server;

  before(async () => {
    h1 = await server('h1', 'hold');
    h2 = await server('h2', 'hold');
    h3 = await server('h3', 'hold');
    const [refused] = await freePorts(1);
    gw = await startGateway(
      `upstreams:
  hang: { targets: [{ url: "${h1.url}" }, { url: "${h2.url}" }] }
  hangr: { targets: [{ url: "http://127.0.0.1:${refused}" }, { url: "${h3.url}" }] }
routes:
  - { name: hang, match: { path: "/h/*" }, upstream: hang }
  - { name: hangr, match: { path: "/hr/*" }, upstream: hangr, retry: { attempts: 1, budgetMin: 100 } }
`,
      { workers: 2, adminToken: TOKEN },
    );
  });

  after(async () => {
    await gw?.stop();
    await Promise.all([h1, h2, h3].map((s) => s?.up.close()));
  });

  const active = async (name: string): Promise<number> => (await upstream(gw, name)).targets.reduce((n, t) => n + t.active, 0);

  test('clients aborting mid-request leave active 0 on every target', async () => {
    const n = 8;
    const reqs = Array.from({ length: n }, () => open(gw, '/h/x'));
    assert.ok(await until(() => h1.held.length + h2.held.length === n, 10_000), 'all requests reached the upstreams');
    assert.ok(h1.held.length > 0 && h2.held.length > 0, 'both targets hold some');
    assert.equal(await active('hang'), n);
    for (const r of reqs) r.abort();
    await Promise.all(reqs.map((r) => r.reply));
    await assertIdle(gw);
    assert.ok(await until(() => h1.dropped + h2.dropped === n, 10_000), `the gateway dropped the upstream requests (${h1.dropped + h2.dropped} of ${n})`);
    h1.held.length = 0;
    h2.held.length = 0;
  });

  test('clients aborting during a retry leave active and retrying 0', async () => {
    const n = 6;
    const reqs = Array.from({ length: n }, () => open(gw, '/hr/x'));
    assert.ok(await until(() => h3.held.length === n, 10_000), 'all requests reached the holding target');
    const u = await upstream(gw, 'hangr');
    assert.equal(u.targets[1]!.active, n);
    assert.ok(u.targets[1]!.retrying > 0, 'some are retries (the refusing target was picked first)');
    for (const r of reqs) r.abort();
    await Promise.all(reqs.map((r) => r.reply));
    await assertIdle(gw);
    h3.held.length = 0;
  });

  test('a worker killed mid-request: the supervisor reclaims its in-flight counts', async () => {
    const pids = await workerPids(gw);
    assert.equal(pids.length, 2);
    const n = 10;
    const reqs = Array.from({ length: n }, () => open(gw, '/h/x'));
    assert.ok(await until(() => h1.held.length + h2.held.length === n, 10_000), 'all requests reached the upstreams');
    assert.equal(await active('hang'), n);
    // The worker with the most requests in flight (the upstream sees each request's id).
    const per = new Map<number, number>();
    for (const s of [h1, h2]) {
      for (const res of s.held) {
        const w = workerOf(res.req.headers['x-request-id'] as string | undefined, pids);
        assert.ok(w !== undefined, 'request id names a worker');
        per.set(w, (per.get(w) ?? 0) + 1);
      }
    }
    const [victim, mine] = [...per.entries()].sort((x, y) => y[1] - x[1])[0]!;
    process.kill(victim, 'SIGKILL');
    assert.ok(await eventually(async () => (await active('hang')) === n - mine, 10_000), `counts of the killed worker (${mine}) reclaimed`);
    // The survivor's requests finish normally.
    h1.release();
    h2.release();
    const replies = await Promise.all(reqs.map((r) => r.reply));
    const ok = replies.filter((r) => !(r instanceof Error) && r.status === 200).length;
    assert.equal(ok, n - mine, 'the surviving worker answered its requests');
    await assertIdle(gw);
    // The supervisor restarts the worker; the gateway is whole again.
    assert.ok(
      await eventually(async () => {
        const body = await adminGet<{ workers: { pid?: number; ready: boolean }[] }>(gw, '/workers');
        return body.workers.length === 2 && body.workers.every((w) => w.ready && w.pid !== victim);
      }, 20_000),
      'worker restarted',
    );
    h1.mode = 'ok';
    h2.mode = 'ok';
    assert.deepEqual(tally(await sequential(gw, '/h/x', 10)), { 200: 10 });
    await assertIdle(gw);
  });
});
