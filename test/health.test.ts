// Active health checks end to end: a real gateway (supervisor + 2 workers)
// in front of real upstreams whose health endpoints the test flips. The
// checks run once, in the supervisor; their verdict (a bit in shared memory)
// must take a target out of rotation in every worker at once and bring it
// back. Traffic goes over fresh connections so that both workers serve it;
// the upstreams count which target served what.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { getFresh, startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep, until } from './helpers/wait.js';

const TEST_TIMEOUT = 60_000;
const TOKEN = 'health-test-admin-token-0123456789';
const INTERVAL = 200;
const TIMEOUT = 150;
const HEALTHY = 2;
const UNHEALTHY = 2;
/** Generous allowance on top of interval x threshold (busy CI machines). */
const SLACK = 4000;
const DOWN_WITHIN = INTERVAL * UNHEALTHY + SLACK;
const UP_WITHIN = INTERVAL * HEALTHY + SLACK;
const USER_AGENT = 'wicket-health/1';

// ---------------------------------------------------------------- helpers

interface Target {
  name: string;
  up: Upstream;
  /** Status the health endpoint answers. */
  health: number;
  /** Proxied (non-probe) requests served. */
  served: number;
  /** Probe requests seen, with their arrival times. */
  probes: { at: number; ua: string | undefined; host: string | undefined }[];
}

async function target(t: TestContext, name: string): Promise<Target> {
  const tg: Target = { name, up: null as unknown as Upstream, health: 200, served: 0, probes: [] };
  tg.up = await startUpstream((req, res) => {
    if (req.url!.startsWith('/health')) {
      tg.probes.push({ at: Date.now(), ua: req.headers['user-agent'], host: req.headers.host });
      res.writeHead(tg.health, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('hc');
      return;
    }
    tg.served++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(name) });
    res.end(name);
  });
  t.after(() => tg.up.close());
  return tg;
}

function upstreamYaml(name: string, urls: string[], extra: string[] = []): string {
  return [`  ${name}:`, ...extra.map((l) => `    ${l}`), '    targets:', ...urls.map((u) => `      - { url: "${u}" }`)].join('\n');
}

const httpCheck = `healthCheck: { path: /health, intervalMs: ${INTERVAL}, timeoutMs: ${TIMEOUT}, healthyThreshold: ${HEALTHY}, unhealthyThreshold: ${UNHEALTHY} }`;
const tcpCheck = `healthCheck: { type: tcp, intervalMs: ${INTERVAL}, timeoutMs: ${TIMEOUT}, healthyThreshold: ${HEALTHY}, unhealthyThreshold: ${UNHEALTHY} }`;

function routeYaml(name: string, prefix: string, upstream: string): string {
  return `  - name: ${name}\n    match: { path: "${prefix}/*" }\n    upstream: ${upstream}`;
}

async function gateway(t: TestContext, body: string): Promise<Gateway> {
  const gw = await startGateway(body, { workers: 2, adminToken: TOKEN });
  t.after(() => gw.stop());
  return gw;
}

interface Batch {
  statuses: Record<number, number>;
  /** Body of each 200 (the target's name). */
  servedBy: Record<string, number>;
  bodies: string[];
}

/** `n` requests, 4 at a time, each on its own connection. */
async function batch(url: string, n: number): Promise<Batch> {
  const out: Batch = { statuses: {}, servedBy: {}, bodies: [] };
  let left = n;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (left-- > 0) {
        const r = await getFresh(url);
        out.statuses[r.status] = (out.statuses[r.status] ?? 0) + 1;
        if (r.status === 200) out.servedBy[r.body] = (out.servedBy[r.body] ?? 0) + 1;
        else out.bodies.push(r.body);
      }
    }),
  );
  return out;
}

/** Sends batches until `cond` holds for one; returns it and when it was seen, or throws after `ms`. */
async function untilBatch(url: string, n: number, cond: (b: Batch) => boolean, ms: number, what: string): Promise<Batch> {
  const deadline = Date.now() + ms;
  let last: Batch | null = null;
  for (;;) {
    last = await batch(url, n);
    if (cond(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what} (last batch ${JSON.stringify(last)})`);
    await sleep(20);
  }
}

interface AdminTarget {
  url: string;
  healthy: boolean;
  down: { check: boolean; admin: boolean; ejected: boolean };
}

async function adminTargets(gw: Gateway, upstream: string): Promise<AdminTarget[]> {
  const r = await fetch(`http://127.0.0.1:${gw.adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { upstreams: { name: string; targets: AdminTarget[] }[] };
  return body.upstreams.find((u) => u.name === upstream)?.targets ?? [];
}

async function checkDown(gw: Gateway, upstream: string, url: string): Promise<boolean> {
  return (await adminTargets(gw, upstream)).find((t) => t.url === url)?.down.check ?? false;
}

/** Polls the admin API until `cond` holds (the test's oracle for the shared bit). */
async function untilAdmin(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(20);
  }
}

interface LogLine {
  msg?: string;
  upstream?: string;
  target?: string;
  reason?: string;
  level?: number;
}

function logLines(gw: Gateway, text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of gw.output) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as LogLine;
      if (o.msg?.includes(text)) out.push(o);
    } catch {
      // a line cut by the pipe
    }
  }
  return out;
}

const portOf = (up: Upstream): number => (up.server.address() as AddressInfo).port;

// ---------------------------------------------------------------- tests

test('a failing health endpoint takes its target out of rotation in every worker, and passing brings it back', { timeout: TEST_TIMEOUT }, async (t) => {
  const a = await target(t, 'A');
  const b = await target(t, 'B');
  const gw = await gateway(t, `upstreams:\n${upstreamYaml('api', [a.up.url, b.up.url], [httpCheck])}\nroutes:\n${routeYaml('api', '/api', 'api')}\n`);
  const url = `${gw.url}/api/x`;

  // Both targets serve to begin with.
  await untilBatch(url, 20, (r) => (r.servedBy.A ?? 0) > 0 && (r.servedBy.B ?? 0) > 0, 10_000, 'both targets serving');
  assert.ok(a.probes.length > 0 && a.probes.every((p) => p.ua === USER_AGENT && p.host === `127.0.0.1:${portOf(a.up)}`));

  a.health = 500;
  const failedAt = Date.now();
  // Once a batch avoids A completely, A must stay out (every worker reads the same bit).
  await untilBatch(url, 10, (r) => r.statuses[200] === 10 && (r.servedBy.A ?? 0) === 0, DOWN_WITHIN, 'A out of rotation');
  const downAfter = Date.now() - failedAt;
  t.diagnostic(`out of rotation after ${downAfter} ms (interval ${INTERVAL} x ${UNHEALTHY})`);
  assert.ok(downAfter <= DOWN_WITHIN, `A went out after ${downAfter} ms`);
  const servedA = a.served;
  const out = await batch(url, 40);
  assert.deepEqual(out.statuses, { 200: 40 }, JSON.stringify(out));
  assert.equal(out.servedBy.B, 40);
  assert.equal(a.served, servedA, 'A served nothing while down');

  const downLines = logLines(gw, 'out of rotation');
  assert.equal(downLines.length, 1, JSON.stringify(downLines));
  assert.equal(downLines[0]!.upstream, 'api');
  assert.equal(downLines[0]!.target, a.up.url);
  assert.match(downLines[0]!.reason ?? '', /status 500/);
  assert.equal(downLines[0]!.level, 40, 'a warn line');

  a.health = 200;
  const recoveredAt = Date.now();
  await untilBatch(url, 10, (r) => (r.servedBy.A ?? 0) > 0, UP_WITHIN, 'A back in rotation');
  const upAfter = Date.now() - recoveredAt;
  t.diagnostic(`back in rotation after ${upAfter} ms (interval ${INTERVAL} x ${HEALTHY})`);
  assert.ok(upAfter <= UP_WITHIN, `A came back after ${upAfter} ms`);
  const back = await batch(url, 40);
  assert.deepEqual(back.statuses, { 200: 40 });
  assert.ok((back.servedBy.A ?? 0) >= 10 && (back.servedBy.B ?? 0) >= 10, JSON.stringify(back));
  const upLines = logLines(gw, 'back in rotation');
  assert.equal(upLines.length, 1);
  assert.equal(upLines[0]!.target, a.up.url);
});

test('probes run once per interval per target, not once per worker', { timeout: TEST_TIMEOUT }, async (t) => {
  const a = await target(t, 'A');
  const gw = await gateway(t, `upstreams:\n${upstreamYaml('api', [a.up.url], [httpCheck])}\nroutes:\n${routeYaml('api', '/api', 'api')}\n`);
  assert.equal((await getFresh(`${gw.url}/api/x`)).status, 200);
  // Steady state first (the first probe is jittered over one interval).
  assert.ok(await until(() => a.probes.length >= 2, 10_000), 'probes running');
  const n0 = a.probes.length;
  const t0 = Date.now();
  await sleep(2000);
  const n1 = a.probes.length;
  const elapsed = Date.now() - t0;
  const expected = elapsed / INTERVAL; // ~10; once per worker would be ~20
  const seen = n1 - n0;
  t.diagnostic(`${seen} probes in ${elapsed} ms`);
  // One loop can fit at most elapsed/interval + 1 probes; twice that is far above the bound.
  assert.ok(seen <= Math.floor(expected * 1.4) + 1, `${seen} probes in ${elapsed} ms (expected about ${expected.toFixed(1)})`);
  assert.ok(seen >= Math.min(3, expected / 3), `${seen} probes in ${elapsed} ms: checks barely ran`);
  // And never two at once: gaps between probes are about an interval, none near zero.
  const gaps = a.probes.slice(n0).map((p, i, all) => (i === 0 ? INTERVAL : p.at - all[i - 1]!.at));
  assert.ok(gaps.every((g) => g >= INTERVAL / 2), `probe gaps ${JSON.stringify(gaps)}`);
});

test('TCP check: a closed port goes out of rotation, reopening it brings it back', { timeout: TEST_TIMEOUT }, async (t) => {
  const a = await target(t, 'A');
  const b = await target(t, 'B');
  const gw = await gateway(t, `upstreams:\n${upstreamYaml('api', [a.up.url, b.up.url], [tcpCheck])}\nroutes:\n${routeYaml('api', '/api', 'api')}\n`);
  const url = `${gw.url}/api/x`;
  await untilBatch(url, 20, (r) => (r.servedBy.A ?? 0) > 0 && (r.servedBy.B ?? 0) > 0, 10_000, 'both targets serving');
  assert.equal(a.probes.length, 0, 'a tcp check sends no HTTP request');

  const port = portOf(a.up);
  await a.up.close();
  await untilAdmin(() => checkDown(gw, 'api', a.up.url), DOWN_WITHIN, 'A down in shared state');
  const out = await batch(url, 30);
  assert.deepEqual(out.statuses, { 200: 30 }, JSON.stringify(out));
  assert.equal(out.servedBy.B, 30);
  const down = logLines(gw, 'out of rotation');
  assert.equal(down.length, 1);
  assert.match(down[0]!.reason ?? '', /ECONNREFUSED/);

  // Reopen A on the same port.
  await new Promise<void>((resolve, reject) => {
    a.up.server.once('error', reject);
    a.up.server.listen(port, '127.0.0.1', () => resolve());
  });
  await untilAdmin(async () => !(await checkDown(gw, 'api', a.up.url)), UP_WITHIN, 'A back in shared state');
  await untilBatch(url, 10, (r) => (r.servedBy.A ?? 0) > 0, 10_000, 'A serving again');
});

test('every target down: 503 WICKET_ERR_NO_TARGET, unless the upstream is in panic mode', { timeout: TEST_TIMEOUT }, async (t) => {
  const a = await target(t, 'A');
  const b = await target(t, 'B');
  const urls = [a.up.url, b.up.url];
  const gw = await gateway(
    t,
    `upstreams:\n${upstreamYaml('strict', urls, [httpCheck])}\n${upstreamYaml('lenient', urls, [httpCheck, 'panic: true'])}\n` +
      `routes:\n${routeYaml('strict', '/strict', 'strict')}\n${routeYaml('lenient', '/lenient', 'lenient')}\n`,
  );
  await untilBatch(`${gw.url}/strict/x`, 10, (r) => r.statuses[200] === 10, 10_000, 'strict serving');
  await untilBatch(`${gw.url}/lenient/x`, 10, (r) => r.statuses[200] === 10, 10_000, 'lenient serving');

  a.health = 503;
  b.health = 503;
  for (const up of ['strict', 'lenient']) {
    await untilAdmin(async () => (await adminTargets(gw, up)).every((x) => x.down.check && !x.healthy), DOWN_WITHIN, `${up} all down`);
  }
  const strict = await batch(`${gw.url}/strict/x`, 10);
  assert.deepEqual(strict.statuses, { 503: 10 }, JSON.stringify(strict));
  for (const body of strict.bodies) assert.equal((JSON.parse(body) as { error: { code: string } }).error.code, 'WICKET_ERR_NO_TARGET');

  const served = a.served + b.served;
  const lenient = await batch(`${gw.url}/lenient/x`, 20);
  assert.deepEqual(lenient.statuses, { 200: 20 }, JSON.stringify(lenient));
  assert.equal(a.served + b.served, served + 20);
  // Round robin over both (the shared cursor moves once per request).
  assert.ok((lenient.servedBy.A ?? 0) > 0 && (lenient.servedBy.B ?? 0) > 0, JSON.stringify(lenient.servedBy));
});

test('a reload that removes the health check brings a down target back', { timeout: TEST_TIMEOUT }, async (t) => {
  const a = await target(t, 'A');
  const b = await target(t, 'B');
  const body = (check: string[]) => `upstreams:\n${upstreamYaml('api', [a.up.url, b.up.url], check)}\nroutes:\n${routeYaml('api', '/api', 'api')}\n`;
  const gw = await gateway(t, body([httpCheck]));
  const url = `${gw.url}/api/x`;
  a.health = 500;
  await untilAdmin(() => checkDown(gw, 'api', a.up.url), DOWN_WITHIN + INTERVAL, 'A down');
  const out = await batch(url, 20);
  assert.equal(out.servedBy.B, 20);

  gw.writeConfig(body([]));
  gw.signal('SIGHUP');
  await gw.waitFor('config reloaded', 15_000);
  // The bit is cleared at once (the endpoint still fails: only the reload explains it).
  assert.equal(await checkDown(gw, 'api', a.up.url), false);
  await untilBatch(url, 10, (r) => r.statuses[200] === 10 && (r.servedBy.A ?? 0) > 0, 10_000, 'A serving after the reload');
  // And nothing probes any more (probes stop before the workers get the new config).
  const probes = a.probes.length + b.probes.length;
  await sleep(INTERVAL * 3);
  assert.equal(a.probes.length + b.probes.length, probes, 'no probes after the reload');
});
