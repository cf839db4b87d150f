// The supervisor end to end: a real gateway (supervisor + 2 workers) in front
// of a real upstream, driven with signals and kill -9 while a bounded
// keep-alive load runs. Rolling restarts and reloads must not lose a request
// (CI sets net.ipv4.tcp_migrate_req=1, see .ci/run and DESIGN §9).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { alive } from './helpers/process.js';
import { test, type TestContext } from 'node:test';
import { getFresh, startGateway, workerPids, type Gateway, type GatewayOptions } from './helpers/gateway.js';
import { checkedLoad, describeLoad, failuresExcept, predictableUpstream, type LoadResult } from './helpers/load.js';
import { startNotifySocket } from './helpers/notify.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';

const CONCURRENCY = 8;
const LOAD_MAX_MS = 30_000;
const TEST_TIMEOUT = 90_000;

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 20 ms until it is truthy or `timeoutMs` passes. */
type Truthy<T> = Exclude<T, null | undefined | false | 0 | ''>;
async function until<T>(cond: () => T | Promise<T>, timeoutMs: number, what: string): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(20);
  }
}


async function healthz(gw: Gateway): Promise<{ status: number; body: { status?: string; configVersion?: number; workers?: number } }> {
  try {
    const r = await fetch(`http://127.0.0.1:${gw.adminPort}/healthz`);
    return { status: r.status, body: (await r.json()) as { status?: string; configVersion?: number } };
  } catch {
    return { status: 0, body: {} };
  }
}

/** Resolves 'refused' when nothing accepts on the port, 'accepted' otherwise. */
function tryConnect(port: number): Promise<'accepted' | 'refused' | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(2000, () => {
      s.destroy();
      resolve('timeout');
    });
    s.once('connect', () => {
      s.destroy();
      resolve('accepted');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : String(e.code)));
  });
}

interface LogLine {
  msg?: string;
  [k: string]: unknown;
}

/** The gateway's JSON log lines whose `msg` is `msg` (non-JSON output skipped). */
function logLines(gw: Gateway, msg: string, from = 0): LogLine[] {
  const out: LogLine[] = [];
  for (const l of gw.output.slice(from)) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as LogLine;
      if (o.msg === msg) out.push(o);
    } catch {
      // a line cut by the pipe: not ours to judge here
    }
  }
  return out;
}

/** Waits for an output line containing `text` at or after output index `from`. */
function lineAfter(gw: Gateway, text: string, from: number, timeoutMs = 10_000): Promise<string> {
  return until(
    () => gw.output.slice(from).find((l) => l.includes(text)),
    timeoutMs,
    `"${text}" in the gateway output\n${gw.output.slice(-20).join('\n')}`,
  );
}

/** The upstream + routes part of a config; `extraRoutes` are appended to `routes:`, `top` to the top level. */
function body(up: Upstream, extraRoutes = '', top = ''): string {
  return [
    'upstreams:',
    '  app:',
    '    targets:',
    `      - { url: "${up.url}" }`,
    'routes:',
    '  - name: api',
    '    match: { path: "/api/*" }',
    '    upstream: app',
    '  - name: hello',
    '    match: { path: /hello }',
    '    respond: { status: 200, body: "hello\\n" }',
    extraRoutes,
    top,
  ].join('\n');
}

async function setup(t: TestContext, handler?: http.RequestListener, extra = '', top = '', opts: GatewayOptions = {}) {
  // Bodies the checked load can predict, unless a test brings its own upstream.
  const up = await startUpstream(handler ?? predictableUpstream);
  t.after(() => up.close());
  const gw = await startGateway(body(up, extra, top), { workers: 2, ...opts });
  t.after(() => gw.stop());
  const pids = await until(() => (workerPids(gw).length === 2 ? workerPids(gw) : null), 5000, 'two worker processes');
  return { up, gw, pids };
}

/** Starts the bounded load on `url` and waits until it is really flowing. */
async function startLoad(url: string) {
  // Content-Length and chunked answers, small and spanning many writes: a drain must leave each whole.
  const load = checkedLoad([url, `${url}/cl/20000`, `${url}/chunked/50000`], { concurrency: CONCURRENCY, maxMs: LOAD_MAX_MS });
  await until(() => load.result.ok >= 200, 10_000, `load flowing on ${url} (${JSON.stringify(load.result)})`);
  return load;
}

/**
 * Like startLoad, but every request on a new connection (closed after it):
 * keeps the listen sockets' accept queues busy, which is where a drain that
 * closes a SO_REUSEPORT listener loses connections (DESIGN §9).
 */
function churnLoop(url: string, concurrency: number, maxMs = LOAD_MAX_MS) {
  return checkedLoad([url], { concurrency, maxMs, fresh: true });
}

function describe(r: LoadResult): string {
  return describeLoad(r);
}

/** Line number (1-based) of the first line of `file` equal to `line`. */
function lineOf(file: string, line: string): number {
  const i = readFileSync(file, 'utf8').split('\n').indexOf(line);
  assert.ok(i >= 0, `"${line}" not in ${file}`);
  return i + 1;
}

// ---------------------------------------------------------------- tests

test('kill -9 of a worker under load: replaced, healthy within 2 s, traffic keeps flowing', { timeout: TEST_TIMEOUT }, async (t) => {
  const { gw, pids } = await setup(t);
  const load = await startLoad(`${gw.url}/api/load`);
  const victim = pids[0]!;
  const survivor = pids[1]!;

  const beforeKill = { ...load.result, statuses: { ...load.result.statuses } };
  process.kill(victim, 'SIGKILL');
  const killedAt = Date.now();
  // A replacement appears in the slot and /healthz says 200 again, within 2 s.
  const replacement = await until(
    async () => {
      const now = workerPids(gw);
      const fresh = now.filter((p) => !pids.includes(p));
      return now.length === 2 && fresh.length === 1 && now.includes(survivor) && (await healthz(gw)).status === 200 ? fresh[0] : undefined;
    },
    2000,
    `a replacement worker and /healthz 200 (workers now ${workerPids(gw).join(',')})`,
  );
  const recoveredIn = Date.now() - killedAt;
  assert.ok(!alive(victim));
  assert.ok(alive(replacement!));

  // Failures are only the exchanges that were on the killed worker's
  // connections: at most one per client connection, and never an HTTP error.
  const atRecovery = { ...load.result, statuses: { ...load.result.statuses } };
  const duringKill = atRecovery.failed - beforeKill.failed;
  assert.ok(duringKill <= CONCURRENCY, `too many failures around the kill: ${duringKill} (${describe(load.result)})`);
  assert.deepEqual(Object.keys(atRecovery.statuses), ['200'], describe(load.result));

  // After recovery: nothing fails, on the old connections or on new ones.
  await until(() => load.result.ok >= atRecovery.ok + 500, 10_000, 'load after recovery');
  const fresh = await Promise.all(Array.from({ length: 16 }, () => getFresh(`${gw.url}/api/fresh`)));
  assert.deepEqual(fresh.map((r) => r.status), Array(16).fill(200));
  const r = await load.stop();
  assert.equal(r.failed, atRecovery.failed, `failures after recovery: ${describe(r)}`);

  const died = logLines(gw, 'worker died');
  assert.equal(died.length, 1, JSON.stringify(died));
  assert.equal(died[0]!.signal, 'SIGKILL');
  t.diagnostic(`recovered in ${recoveredIn} ms; ${duringKill} request(s) failed with the killed worker; ${r.ok} ok`);
});

test('crash loop: the restart delay of a slot doubles with each quick death, up to the cap', { timeout: TEST_TIMEOUT }, async (t) => {
  const { gw, pids } = await setup(t, undefined, '', 'supervisor: { restartBackoffMs: 100, restartBackoffMaxMs: 800 }');
  const survivor = pids[1]!;
  const killed: number[] = [];
  let victim = pids[0]!;
  const KILLS = 5;
  for (let i = 0; i < KILLS; i++) {
    process.kill(victim, 'SIGKILL');
    killed.push(victim);
    if (i === KILLS - 1) break;
    // Kill the slot's next worker as soon as it exists, well inside the
    // 10 s a worker must live for its slot's streak to reset.
    victim = (await until(
      () => workerPids(gw).find((p) => p !== survivor && !killed.includes(p)),
      10_000,
      `replacement #${i + 1}`,
    ))!;
  }
  await until(async () => (await healthz(gw)).status === 200, 10_000, '/healthz 200 after the crash loop');
  const died = logLines(gw, 'worker died');
  assert.equal(died.length, KILLS, JSON.stringify(died));
  assert.equal(new Set(died.map((d) => d.slot)).size, 1, `one slot only: ${JSON.stringify(died)}`);
  assert.ok(died.every((d) => d.signal === 'SIGKILL'));
  assert.deepEqual(died.map((d) => d.restartInMs), [100, 200, 400, 800, 800]);
  // The other slot's worker was never touched.
  assert.ok(alive(survivor));
  assert.ok(workerPids(gw).includes(survivor));
});

test('SIGHUP adding a route under load: applied everywhere, zero failed requests', { timeout: TEST_TIMEOUT }, async (t) => {
  const { up, gw, pids } = await setup(t);
  assert.equal((await getFresh(`${gw.url}/new/x`)).status, 404);
  const load = await startLoad(`${gw.url}/api/load`);

  gw.writeConfig(body(up, ['  - name: added', '    match: { path: "/new/*" }', '    respond: { status: 200, body: "added\\n" }'].join('\n')));
  gw.signal('SIGHUP');
  const line = await gw.waitFor('config reloaded', 15_000);
  assert.equal((JSON.parse(line) as LogLine).version, 2);
  // Every worker has the route: try many fresh connections (the kernel spreads them).
  const got = await Promise.all(Array.from({ length: 16 }, () => getFresh(`${gw.url}/new/x`)));
  assert.deepEqual(got.map((r) => `${r.status} ${r.body}`), Array(16).fill('200 added\n'));
  // Let the load run on the new table for a while too.
  const reloadedAt = load.result.ok;
  await until(() => load.result.ok >= reloadedAt + 300, 10_000, 'load after the reload');
  const r = await load.stop();
  assert.equal(r.failed, 0, describe(r));
  assert.ok(r.ok > 0);
  const h = await healthz(gw);
  assert.equal(h.status, 200);
  assert.equal(h.body.configVersion, 2);
  // A reload that keeps listeners and worker count does not restart anyone.
  assert.deepEqual(workerPids(gw), pids);
});

for (const bad of [
  {
    name: 'an unknown key',
    routes: ['  - name: broken', '    match: { path: "/broken" }', '    upstream: app', '    retriez: 3'],
    offending: '    retriez: 3',
    error: (file: string, line: number) => `${file}: routes[2].retriez: unknown key "retriez" (line ${line})`,
  },
  {
    name: 'a reference to an unknown upstream',
    routes: ['  - name: broken', '    match: { path: "/broken" }', '    upstream: nope'],
    offending: '    upstream: nope',
    error: (file: string, line: number) => `${file}: routes[2].upstream: unknown upstream "nope" (line ${line})`,
  },
]) {
  test(`SIGHUP with ${bad.name}: refused whole with path and line, old routes served, zero failures`, { timeout: TEST_TIMEOUT }, async (t) => {
    const { up, gw, pids } = await setup(t);
    const load = await startLoad(`${gw.url}/api/load`);
    gw.writeConfig(body(up, bad.routes.join('\n')));
    const from = gw.output.length;
    gw.signal('SIGHUP');
    const refused = await lineAfter(gw, 'config reload refused', from, 15_000);
    const errors = (JSON.parse(refused) as { errors: string[] }).errors;
    assert.deepEqual(errors, [bad.error(gw.file, lineOf(gw.file, bad.offending))]);
    assert.equal(logLines(gw, 'config reloaded').length, 0);

    // The running config stays: old routes answer, the refused one does not exist.
    const after = await Promise.all(Array.from({ length: 8 }, () => getFresh(`${gw.url}/api/still`)));
    assert.deepEqual(after.map((r) => r.status), Array(8).fill(200));
    assert.equal((await getFresh(`${gw.url}/hello`)).body, 'hello\n');
    assert.equal((await getFresh(`${gw.url}/broken`)).status, 404);
    const mark = load.result.ok;
    await until(() => load.result.ok >= mark + 300, 10_000, 'load after the refused reload');
    const r = await load.stop();
    assert.equal(r.failed, 0, describe(r));
    const h = await healthz(gw);
    assert.equal(h.status, 200);
    assert.equal(h.body.configVersion, 1);
    assert.deepEqual(workerPids(gw), pids);
  });
}

/** Kills slot 0's worker and resolves the replacement's pid as soon as it is forked (still loading its modules). */
async function killAndCatchReplacement(gw: Gateway, pids: number[]): Promise<number> {
  process.kill(pids[0]!, 'SIGKILL');
  return until(() => workerPids(gw).find((p) => !pids.includes(p)), 10_000, 'the replacement worker process');
}

test('SIGHUP while a replacement worker is still booting: that worker gets the new config too', { timeout: TEST_TIMEOUT }, async (t) => {
  const { up, gw, pids } = await setup(t);
  const booting = await killAndCatchReplacement(gw, pids);
  gw.writeConfig(body(up, ['  - name: added', '    match: { path: "/new/*" }', '    respond: { status: 200, body: "added\\n" }'].join('\n')));
  gw.signal('SIGHUP');
  await gw.waitFor('config reloaded', 30_000);
  await until(async () => (await healthz(gw)).status === 200, 10_000, '/healthz 200');
  assert.ok(workerPids(gw).includes(booting));
  // Both workers serve the new table: many fresh connections, spread by the kernel.
  const got = await Promise.all(Array.from({ length: 24 }, () => getFresh(`${gw.url}/new/x`)));
  assert.deepEqual(got.map((r) => r.status), Array(24).fill(200), 'a worker is still on the old config');
  assert.deepEqual(
    logLines(gw, 'worker listening').filter((l) => l.pid === booting).map((l) => l.version),
    [2],
    'the replacement worker should start on config version 2',
  );
});

test('SIGTERM while a replacement worker is still booting: that worker never listens and the gateway exits 0', { timeout: TEST_TIMEOUT }, async (t) => {
  // A long drain timeout: a worker that ignores the drain would hold the exit for 62 s.
  const { gw, pids } = await setup(t, undefined, '', 'supervisor: { drainTimeoutMs: 60000 }');
  const booting = await killAndCatchReplacement(gw, pids);
  const from = gw.output.length;
  gw.signal('SIGTERM');
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  try {
    exit = await gw.waitExit(20_000);
  } catch {
    // asserted below with the output for context
  }
  const tail = gw.output.slice(-10).join('\n');
  if (exit === null) {
    // Don't leave it to the harness's slow stop: end what this test started.
    for (const p of workerPids(gw)) process.kill(p, 'SIGKILL');
    gw.proc.kill('SIGKILL');
  }
  const late = gw.output.slice(from).filter((l) => l.includes('"msg":"worker listening"'));
  assert.ok(exit, `gateway still running 20 s after SIGTERM (a booting worker missed its drain):\n${tail}`);
  assert.deepEqual(late, [], 'a worker started listening after the drain began');
  assert.equal(exit.code, 0);
  assert.ok(!alive(booting));
});

test('SIGHUP changing the worker count under load: rolling restart to 3 workers, zero failures', { timeout: TEST_TIMEOUT }, async (t) => {
  const { up, gw, pids } = await setup(t);
  const load = await startLoad(`${gw.url}/api/load`);
  const churn = churnLoop(`${gw.url}/api/churn`, 4);
  await until(() => churn.result.ok >= 50, 10_000, 'new-connection load flowing');
  // writeConfig keeps the harness's header (workers: 2): edit that line in the file itself.
  gw.writeConfig(body(up));
  const file = readFileSync(gw.file, 'utf8');
  assert.match(file, /^workers: 2$/m);
  writeFileSync(gw.file, file.replace(/^workers: 2$/m, 'workers: 3'));
  gw.signal('SIGHUP');
  await gw.waitFor('config reloaded', 60_000);
  const now = workerPids(gw);
  assert.equal(now.length, 3, `workers: ${now.join(',')}`);
  assert.deepEqual(now.filter((p) => pids.includes(p)), [], 'every worker was replaced');
  const mark = load.result.ok;
  await until(() => load.result.ok >= mark + 300, 10_000, 'load after the restart');
  const [r, c] = await Promise.all([load.stop(), churn.stop()]);
  assert.equal(r.failed, 0, `keep-alive load: ${describe(r)}`);
  assert.equal(c.failed, 0, `new-connection load: ${describe(c)}`);
  const h = await healthz(gw);
  assert.equal(h.status, 200);
  assert.equal(h.body.workers, 3);
});

test('SIGUSR2 under load: rolling restart replaces every worker with zero failed requests', { timeout: TEST_TIMEOUT }, async (t) => {
  const { gw, pids } = await setup(t);
  const load = await startLoad(`${gw.url}/api/load`);
  const churn = churnLoop(`${gw.url}/api/churn`, 4);
  await until(() => churn.result.ok >= 50, 10_000, 'new-connection load flowing');
  gw.signal('SIGUSR2');
  await gw.waitFor('rolling restart done', 60_000);
  const now = workerPids(gw);
  assert.equal(now.length, 2, `workers: ${now.join(',')}`);
  assert.deepEqual(now.filter((p) => pids.includes(p)), [], 'every worker was replaced');
  assert.ok(pids.every((p) => !alive(p)), 'old workers exited');
  const mark = load.result.ok;
  await until(() => load.result.ok >= mark + 300, 10_000, 'load after the restart');
  const [r, c] = await Promise.all([load.stop(), churn.stop()]);
  assert.equal(r.failed, 0, `keep-alive load: ${describe(r)}`);
  assert.equal(c.failed, 0, `new-connection load: ${describe(c)}`);
  assert.equal((await healthz(gw)).status, 200);
  assert.equal(logLines(gw, 'worker died').length, 0);
  t.diagnostic(`keep-alive ${r.ok} ok, new connections ${c.ok} ok`);
});

test('SIGTERM with requests in flight: they all complete, exit 0, then nothing listens', { timeout: TEST_TIMEOUT }, async (t) => {
  const slow: http.RequestListener = (req, res) => {
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`slow ${req.url}\n`);
    }, 1000);
  };
  const { up, gw, pids } = await setup(t, slow);
  const N = 6;
  const inflight = Array.from({ length: N }, (_, i) => getFresh(`${gw.url}/api/slow/${i}`, 20_000));
  // All of them reached the upstream: they are in flight in the workers.
  await until(() => up.seen.length >= N, 10_000, `${N} requests at the upstream (seen ${up.seen.length})`);
  const from = gw.output.length;
  gw.signal('SIGTERM');
  // Once both workers stopped listening, new connections are refused while the old exchanges finish.
  await until(() => gw.output.slice(from).filter((l) => l.includes('"msg":"draining"')).length >= 2, 5000, 'both workers draining');
  assert.equal(await tryConnect(gw.port), 'refused', 'a new connection during the drain');
  const results = await Promise.all(inflight);
  assert.deepEqual(
    results.map((r) => `${r.status} ${r.body}`),
    Array.from({ length: N }, (_, i) => `200 slow /api/slow/${i}\n`),
  );
  const { code, signal } = await gw.waitExit(20_000);
  assert.equal(signal, null);
  assert.equal(code, 0, gw.output.slice(-20).join('\n'));
  await gw.waitFor('stopped', 1000);
  assert.equal(await tryConnect(gw.port), 'refused', 'the proxy port after exit');
  assert.equal(await tryConnect(gw.adminPort), 'refused', 'the admin port after exit');
  assert.ok(pids.every((p) => !alive(p)), 'no worker left behind');
});

test('SIGTERM under keep-alive load: every answer that arrives is whole (Content-Length and chunked); afterwards connections are refused', { timeout: TEST_TIMEOUT }, async (t) => {
  const { gw } = await setup(t);
  const load = await startLoad(`${gw.url}/api/load`);
  const churn = churnLoop(`${gw.url}/api/churn`, 4);
  await until(() => churn.result.ok >= 50, 10_000, 'new-connection load flowing');
  const atSignal = load.result.ok;
  gw.signal('SIGTERM');
  const { code } = await gw.waitExit(20_000);
  assert.equal(code, 0, gw.output.slice(-20).join('\n'));
  // Clients keep trying for a moment after the exit: only refusals (no request sent) may follow.
  await sleep(300);
  const [r, c] = await Promise.all([load.stop(), churn.stop()]);
  assert.equal(failuresExcept(r, ['refused']), 0, `keep-alive load: ${describe(r)}`);
  // A full stop has no sibling listener to migrate the accept queue to: a
  // connection the kernel accepted as the last listener closed is reset
  // (docs/OPERATIONS.md). No answer is ever corrupted or cut.
  assert.equal(failuresExcept(c, ['refused', 'reset']), 0, `new-connection load: ${describe(c)}`);
  assert.ok(r.ok > atSignal, 'requests were served during the drain');
  t.diagnostic(`keep-alive ${r.ok} ok (${r.ok - atSignal} after SIGTERM), refused ${r.kinds.refused ?? 0}; new connections ${c.ok} ok`);
});

test('SIGINT drains and exits 0 like SIGTERM', { timeout: TEST_TIMEOUT }, async (t) => {
  const { gw, pids } = await setup(t);
  assert.equal((await getFresh(`${gw.url}/api/x`)).status, 200);
  gw.signal('SIGINT');
  const { code, signal } = await gw.waitExit(20_000);
  assert.equal(signal, null);
  assert.equal(code, 0, gw.output.slice(-20).join('\n'));
  assert.equal(await tryConnect(gw.port), 'refused');
  assert.ok(pids.every((p) => !alive(p)), 'no worker left behind');
});

test('NOTIFY_SOCKET: READY=1 at start, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM', { timeout: TEST_TIMEOUT }, async (t) => {
  const notify = await startNotifySocket();
  t.after(() => notify.close());
  const { up, gw } = await setup(t, undefined, '', '', { env: { NOTIFY_SOCKET: notify.path } });
  const mainPid = String(gw.proc.pid);

  const ready = await notify.waitFor('READY=1');
  assert.equal(notify.messages[ready]!.fields.MAINPID, mainPid);
  assert.match(notify.messages[ready]!.fields.STATUS ?? '', /2 workers/);
  // Nothing before READY=1 claims a reload or a stop.
  assert.ok(notify.messages.slice(0, ready).every((m) => !('RELOADING' in m.fields) && !('STOPPING' in m.fields)));

  // A good reload.
  gw.writeConfig(body(up, ['  - name: added', '    match: { path: /added }', '    respond: { status: 200, body: "added" }'].join('\n')));
  gw.signal('SIGHUP');
  const reloading = await notify.waitFor('RELOADING=1', ready + 1);
  assert.match(notify.messages[reloading]!.fields.MONOTONIC_USEC ?? '', /^\d+$/, 'RELOADING=1 carries MONOTONIC_USEC');
  assert.equal(notify.messages[reloading]!.fields.MAINPID, mainPid);
  const readyAgain = await notify.waitFor('READY=1', reloading + 1);
  await gw.waitFor('config reloaded');
  assert.equal((await getFresh(`${gw.url}/added`)).status, 200);

  // A refused reload still ends in READY=1 (systemd would otherwise wait in "reloading").
  gw.writeConfig(body(up, '', 'bogusKey: 1'));
  gw.signal('SIGHUP');
  const reloading2 = await notify.waitFor('RELOADING=1', readyAgain + 1);
  const ready3 = await notify.waitFor('READY=1', reloading2 + 1);
  await gw.waitFor('config reload refused');

  gw.signal('SIGTERM');
  const { code } = await gw.waitExit(20_000);
  assert.equal(code, 0);
  const stopping = await notify.waitFor('STOPPING=1', ready3 + 1);
  assert.equal(notify.messages[stopping]!.fields.MAINPID, mainPid);
  // Order of the whole conversation.
  const states = notify.messages.map((m) => ['READY', 'RELOADING', 'STOPPING'].filter((k) => k in m.fields).join('+')).filter(Boolean);
  assert.deepEqual(states, ['READY', 'RELOADING', 'READY', 'RELOADING', 'READY', 'STOPPING']);
});
