// The health checker against real loopback servers and a fake store: the
// threshold arithmetic, what a probe sends, update() keeping/restarting/
// stopping probes, no overlapping probes, and stop().
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import type { ResolvedConfig, ResolvedHealthCheck } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import { F_ADMIN_DOWN, F_CHECK_DOWN } from '../state/layout.js';
import type { StateStore } from '../state/store.js';
import { HealthChecker, USER_AGENT, healthStep, initialHealth, type HealthState } from './active-checks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(10);
  }
}

// ---------------------------------------------------------------- fakes

class FakeStore {
  readonly flagsBySlot = new Map<number, number>();
  flags(t: number): number {
    return this.flagsBySlot.get(t) ?? 0;
  }
  setFlag(t: number, bit: number, on: boolean): void {
    const f = this.flags(t);
    this.flagsBySlot.set(t, on ? f | bit : f & ~bit);
  }
  down(t: number): boolean {
    return (this.flags(t) & F_CHECK_DOWN) !== 0;
  }
}

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function fakeLog(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => {
    if (typeof obj === 'string') lines.push({ level, obj: {}, msg: obj });
    else lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
  };
  const log = { warn: at('warn'), info: at('info'), error: at('error'), debug: at('debug') } as unknown as Logger;
  return { log, lines };
}

const check = (o: Partial<ResolvedHealthCheck> = {}): ResolvedHealthCheck => ({
  type: 'http',
  path: '/health',
  expectStatus: [],
  intervalMs: 40,
  timeoutMs: 40,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  ...o,
});

function config(ups: Record<string, { targets: { url: string; slot: number }[]; healthCheck?: ResolvedHealthCheck }>): ResolvedConfig {
  const upstreams = Object.fromEntries(
    Object.entries(ups).map(([name, u]) => [name, { name, targets: u.targets.map((t) => ({ ...t, weight: 1 })), healthCheck: u.healthCheck }]),
  );
  return { upstreams } as unknown as ResolvedConfig;
}

interface Server {
  url: string;
  port: number;
  /** Requests seen. */
  hits: http.IncomingMessage[];
  /** Connections accepted. */
  conns: number;
  status: number;
  delayMs: number;
  inFlight: number;
  maxInFlight: number;
  close(): Promise<void>;
}

const servers: Server[] = [];
const checkers: HealthChecker[] = [];
afterEach(async () => {
  for (const c of checkers.splice(0)) c.stop();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(): Promise<Server> {
  const s: Server = { url: '', port: 0, hits: [], conns: 0, status: 200, delayMs: 0, inFlight: 0, maxInFlight: 0, close: async () => {} };
  const srv = http.createServer((req, res) => {
    s.hits.push(req);
    s.inFlight++;
    s.maxInFlight = Math.max(s.maxInFlight, s.inFlight);
    const reply = () => {
      s.inFlight--;
      res.writeHead(s.status, { 'content-type': 'text/plain' });
      res.end('x'.repeat(100));
    };
    if (s.delayMs > 0) setTimeout(reply, s.delayMs);
    else reply();
  });
  srv.on('connection', () => s.conns++);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  s.port = (srv.address() as AddressInfo).port;
  s.url = `http://127.0.0.1:${s.port}`;
  s.close = () =>
    new Promise((r) => {
      srv.close(() => r());
      srv.closeAllConnections();
    });
  servers.push(s);
  return s;
}

function checker(store: FakeStore, log: Logger): HealthChecker {
  const c = new HealthChecker(store as unknown as StateStore, log);
  checkers.push(c);
  return c;
}

// ---------------------------------------------------------------- thresholds

describe('healthStep', () => {
  const th = { healthyThreshold: 2, unhealthyThreshold: 3 };
  const run = (outcomes: boolean[], s: HealthState = initialHealth()) => {
    const trace: string[] = [];
    for (const ok of outcomes) {
      const n = healthStep(s, ok, th);
      s = n;
      trace.push(`${n.healthy ? 'H' : 'D'}${n.consecutive}${n.changed ? '!' : ''}`);
    }
    return trace.join(' ');
  };

  test('starts healthy and goes down only after unhealthyThreshold failures in a row', () => {
    assert.deepEqual(initialHealth(), { healthy: true, consecutive: 0, lastOk: null });
    assert.equal(run([false, false, false, false]), 'H1 H2 D3! D4');
    assert.equal(run([false, false, true, false, false, false]), 'H1 H2 H1 H1 H2 D3!');
  });

  test('comes back only after healthyThreshold passes in a row', () => {
    assert.equal(run([false, false, false, true, false, true, true, true]), 'H1 H2 D3! D1 D1 D1 H2! H3');
  });

  test('thresholds of 1 flip on every change', () => {
    let s = initialHealth();
    const flips: boolean[] = [];
    for (const ok of [false, true, false, true]) {
      const n = healthStep(s, ok, { healthyThreshold: 1, unhealthyThreshold: 1 });
      flips.push(n.changed);
      s = n;
    }
    assert.deepEqual(flips, [true, true, true, true]);
  });
});

// ---------------------------------------------------------------- probes

describe('HealthChecker', () => {
  test('HTTP probe: GET path, Host and user-agent, a fresh connection each time', async () => {
    const s = await server();
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 3 }], healthCheck: check({ path: '/hc?x=1' }) } }));
    await until(() => s.hits.length >= 3, 5000, 'three probes');
    for (const h of s.hits) {
      assert.equal(h.method, 'GET');
      assert.equal(h.url, '/hc?x=1');
      assert.equal(h.headers.host, `127.0.0.1:${s.port}`);
      assert.equal(h.headers['user-agent'], USER_AGENT);
    }
    assert.ok(s.conns >= s.hits.length, 'one connection per probe');
    assert.equal(store.down(3), false);
    const st = c.status();
    assert.equal(st.length, 1);
    assert.equal(st[0]!.upstream, 'api');
    assert.equal(st[0]!.target, s.url);
    assert.equal(st[0]!.slot, 3);
    assert.equal(st[0]!.healthy, true);
    assert.equal(st[0]!.lastError, undefined);
    assert.ok(st[0]!.consecutive >= 1);
    assert.ok(st[0]!.lastCheckAt && !Number.isNaN(Date.parse(st[0]!.lastCheckAt)));
  });

  test('check.host overrides the Host header', async () => {
    const s = await server();
    const c = checker(new FakeStore(), fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 0 }], healthCheck: check({ host: 'health.internal' }) } }));
    await until(() => s.hits.length >= 1, 5000, 'a probe');
    assert.equal(s.hits[0]!.headers.host, 'health.internal');
  });

  test('down after unhealthyThreshold failures, back after healthyThreshold passes; one warn per transition', async () => {
    const s = await server();
    const store = new FakeStore();
    const { log, lines } = fakeLog();
    store.setFlag(5, F_ADMIN_DOWN, true); // other bits are left alone
    const c = checker(store, log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 5 }], healthCheck: check() } }));
    await until(() => s.hits.length >= 2, 5000, 'probes');
    assert.equal(store.down(5), false);
    s.status = 500;
    await until(() => store.down(5), 5000, 'target down');
    const st = c.status()[0]!;
    assert.equal(st.healthy, false);
    assert.equal(st.lastError, 'status 500');
    const downs = lines.filter((l) => l.level === 'warn' && l.msg.includes('out of rotation'));
    assert.equal(downs.length, 1);
    assert.equal(downs[0]!.obj.upstream, 'api');
    assert.equal(downs[0]!.obj.target, s.url);
    assert.match(String(downs[0]!.obj.reason), /status 500/);
    s.status = 204;
    await until(() => !store.down(5), 5000, 'target back');
    assert.equal(lines.filter((l) => l.level === 'warn' && l.msg.includes('back in rotation')).length, 1);
    assert.equal(lines.filter((l) => l.level === 'warn' && l.msg.includes('out of rotation')).length, 1);
    assert.equal(store.flags(5) & F_ADMIN_DOWN, F_ADMIN_DOWN);
  });

  test('expectStatus: only the listed statuses pass', async () => {
    const s = await server();
    s.status = 200;
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 1 }], healthCheck: check({ expectStatus: [418], unhealthyThreshold: 1 }) } }));
    await until(() => store.down(1), 5000, 'target down on 200');
    s.status = 418;
    await until(() => !store.down(1), 5000, 'target back on 418');
  });

  test('a slow target times out and counts as a failure', async () => {
    const s = await server();
    s.delayMs = 500;
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 1 }], healthCheck: check({ unhealthyThreshold: 1 }) } }));
    await until(() => store.down(1), 5000, 'target down');
    assert.match(c.status()[0]!.lastError ?? '', /timed out after 40 ms/);
  });

  test('probes of one target never overlap', async () => {
    const s = await server();
    s.delayMs = 60; // longer than the interval, shorter than the timeout
    const c = checker(new FakeStore(), fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 0 }], healthCheck: check({ intervalMs: 10, timeoutMs: 1000 }) } }));
    await until(() => s.hits.length >= 5, 5000, 'five probes');
    assert.equal(s.maxInFlight, 1);
  });

  test('connection refused and TCP checks', async () => {
    const s = await server();
    const closed = await new Promise<number>((r) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as AddressInfo).port;
        srv.close(() => r(p));
      });
    });
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    const tcp = check({ type: 'tcp', unhealthyThreshold: 1, healthyThreshold: 1 });
    c.update(config({ a: { targets: [{ url: s.url, slot: 0 }, { url: `http://127.0.0.1:${closed}`, slot: 1 }], healthCheck: tcp } }));
    await until(() => store.down(1), 5000, 'closed port down');
    assert.equal(c.status().find((x) => x.slot === 1)!.lastError, 'ECONNREFUSED');
    await until(() => s.conns >= 2, 5000, 'tcp probes reach the open port');
    assert.equal(s.hits.length, 0, 'a tcp probe sends no request');
    assert.equal(store.down(0), false);
  });

  test('a probe that cannot even be built fails and the loop goes on', async () => {
    const s = await server();
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 2 }], healthCheck: check({ host: 'bad\nhost', unhealthyThreshold: 1 }) } }));
    await until(() => (c.status()[0]?.consecutive ?? 0) >= 3, 5000, 'repeated failures');
    assert.equal(store.down(2), true);
    assert.equal(s.hits.length, 0);
  });

  test('update(): unchanged probes keep going, removed checks clear the flag, changed checks keep the health', async () => {
    const a = await server();
    const b = await server();
    a.status = 503;
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    const hc = check({ unhealthyThreshold: 1, healthyThreshold: 3 });
    const cfg = (h: ResolvedHealthCheck | undefined) => config({ api: { targets: [{ url: a.url, slot: 0 }, { url: b.url, slot: 1 }], healthCheck: h } });
    c.update(cfg(hc));
    await until(() => store.down(0), 5000, 'a down');
    // Same config again (a reload that changed something else): probes and counts stay.
    const before = c.status().find((x) => x.slot === 0)!.consecutive;
    c.update(cfg({ ...hc }));
    await sleep(100);
    assert.ok(c.status().find((x) => x.slot === 0)!.consecutive > before, 'count carried on');
    assert.equal(store.down(0), true);
    // A changed check restarts the probe but a down target stays down.
    c.update(cfg({ ...hc, path: '/other' }));
    assert.equal(store.down(0), true);
    assert.equal(c.status().find((x) => x.slot === 0)!.healthy, false);
    await until(() => a.hits.some((h) => h.url === '/other'), 5000, 'new path probed');
    assert.equal(store.down(0), true);
    // No check any more: the flag clears at once and probes stop.
    c.update(cfg(undefined));
    assert.equal(store.down(0), false);
    assert.deepEqual(c.status(), []);
    const hits = a.hits.length + b.hits.length;
    await sleep(150);
    assert.ok(a.hits.length + b.hits.length <= hits + 2, 'no probes after the check is gone'); // at most ones already in flight
  });

  test('a new target starts healthy even if its slot had the bit set; a removed target is cleared', async () => {
    const a = await server();
    const store = new FakeStore();
    store.setFlag(7, F_CHECK_DOWN, true);
    const c = checker(store, fakeLog().log);
    c.update(config({ api: { targets: [{ url: a.url, slot: 7 }], healthCheck: check({ intervalMs: 60_000, timeoutMs: 1000 }) } }));
    assert.equal(store.down(7), false);
    assert.equal(c.status()[0]!.healthy, true);
    store.setFlag(7, F_CHECK_DOWN, true);
    c.update(config({}));
    assert.equal(store.down(7), false);
  });

  test('stop(): no probe after it, and a probe in flight does not write its result', async () => {
    const s = await server();
    s.delayMs = 100;
    s.status = 500;
    const store = new FakeStore();
    const c = checker(store, fakeLog().log);
    c.update(config({ api: { targets: [{ url: s.url, slot: 0 }], healthCheck: check({ intervalMs: 10, timeoutMs: 1000, unhealthyThreshold: 1 }) } }));
    await until(() => s.inFlight === 1, 5000, 'a probe in flight');
    c.stop();
    const hits = s.hits.length;
    await sleep(250);
    assert.equal(s.hits.length, hits);
    assert.equal(store.down(0), false);
    c.update(config({ api: { targets: [{ url: s.url, slot: 0 }], healthCheck: check() } })); // ignored after stop
    await sleep(100);
    assert.equal(s.hits.length, hits);
  });
});
