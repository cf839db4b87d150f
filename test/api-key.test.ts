// API keys end to end: a real gateway (2 workers) in front of a real upstream.
// Keys are made, rotated and revoked through the admin API; every request
// goes on a fresh connection, so the kernel (SO_REUSEPORT) spreads them over
// both workers, and each answer says which worker gave it (request ids start
// with the worker's pid in base 36). "Within one second" is the brief's bound
// on a change reaching every worker (a broadcast over IPC; Redis pub/sub
// between gateways), polled, not timed. Then: the file store across a
// restart, and two gateways sharing one Redis. No key, nor the hash secret,
// may appear in anything a gateway printed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { redisSkip, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';

const TOKEN = 'api-key-test-admin-token-0123456789';
const SECRET = randomBytes(32).toString('base64url');
const ENV = { WICKET_API_KEY_SECRET: SECRET };
/** The brief's bound on a change reaching every worker and every gateway. */
const PROPAGATION_MS = 1000;

/** Every key a test was given: none may show up in a gateway's output. */
const issued: string[] = [];
/** Every gateway started, for the log check. */
const gateways: Gateway[] = [];

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET on a new connection: whichever worker the kernel picks. */
function get(gw: Gateway, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: gw.port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path} in 10 s`)));
    req.on('error', reject);
  });
}

async function workers(gw: Gateway): Promise<string[]> {
  const r = await admin(gw, 'GET', '/workers');
  return ((await r.json()) as { workers: { pid: number }[] }).workers.map((w) => w.pid.toString(36));
}

/**
 * Before `end` (a key's expiry, by the gateway's clock): the key works on
 * every worker. Checked with a margin, so that no request of the check can
 * reach the gateway after `end` on a slow machine; the periods in these
 * tests (5 s) leave room for it.
 */
async function worksUntil(gw: Gateway, key: string, end: number): Promise<void> {
  const MARGIN = 2500;
  const left = end - MARGIN - Date.now();
  assert.ok(left > 0, 'the machine took the whole period before the check could start');
  assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': key }, 200, Math.min(left, PROPAGATION_MS)), 'works on every worker before its end');
}

/** The request id: the gateway's error body has it; a proxied reply, the headers the upstream echoed. */
function requestId(r: Reply): string {
  try {
    const b = JSON.parse(r.body) as { error?: { requestId?: string }; headers?: Record<string, string> };
    return b.error?.requestId ?? b.headers?.['x-request-id'] ?? '';
  } catch {
    return '';
  }
}

/** The worker a reply came from: the longest pid (base 36) its request id starts with. */
const workerOf = (r: Reply, pids: readonly string[]): string | undefined => {
  const id = requestId(r);
  return pids.filter((p) => id.startsWith(p)).sort((a, b) => b.length - a.length)[0];
};

/**
 * Polls with fresh connections until every worker's latest answer has status
 * `want`; false if that does not happen within `ms`. Then 20 more requests
 * must all have it (a worker that flips back would show).
 */
async function everyWorker(gw: Gateway, path: string, headers: Record<string, string>, want: number, ms = PROPAGATION_MS): Promise<boolean> {
  const pids = await workers(gw);
  const last = new Map<string, number>();
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await get(gw, path, headers);
    const w = workerOf(r, pids);
    if (w !== undefined) last.set(w, r.status);
    if (pids.every((p) => last.get(p) === want)) break;
    if (Date.now() > deadline) return false;
  }
  for (let i = 0; i < 20; i++) if ((await get(gw, path, headers)).status !== want) return false;
  return true;
}

function admin(gw: Gateway, method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<Response> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`http://127.0.0.1:${gw.adminPort}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

interface KeyView {
  id: string;
  prefix: string;
  key?: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  expired: boolean;
  replaced?: KeyView;
  replacedBy?: string;
}

async function newKey(gw: Gateway, consumer: string, body: unknown = {}): Promise<KeyView & { key: string }> {
  const r = await admin(gw, 'POST', `/auth/apiKey/consumers/${consumer}/keys`, body);
  assert.equal(r.status, 201, await r.clone().text());
  const k = (await r.json()) as KeyView & { key: string };
  issued.push(k.key);
  return k;
}

const upstreamSaw = (r: Reply): { url: string; headers: Record<string, string> } => JSON.parse(r.body) as { url: string; headers: Record<string, string> };
const code = (r: Reply): string => (JSON.parse(r.body) as { error: { code: string } }).error.code;

function config(up: Upstream, store: string): string {
  return `auth:
  apiKey: { hashSecretEnv: WICKET_API_KEY_SECRET, ${store}, graceSeconds: 3600, lastUsedReportSeconds: 1 }
upstreams:
  u: { targets: [{ url: "${up.url}" }] }
routes:
  - name: keyed
    match: { path: "/k/*" }
    upstream: u
    auth: { methods: [ { apiKey: { query: api_key } } ], upstreamHeaders: { x-consumer: consumer, x-roles: roles } }
  - name: forwarded
    match: { path: "/fwd/*" }
    upstream: u
    auth: { methods: [ { apiKey: { header: x-key, hideCredentials: false } } ] }
  - name: admins
    match: { path: "/admins/*" }
    upstream: u
    auth: { methods: [ { apiKey: {} } ], require: { roles: [admin] } }
`;
}

let up: Upstream;
before(async () => {
  up = await startUpstream();
});
after(async () => {
  await Promise.all(gateways.map((g) => g.stop()));
  await up?.close();
  // Last: everything every gateway printed, including its shutdown.
  for (const gw of gateways) {
    const out = gw.output.join('\n');
    // The secret part is the 43 characters after `wk_live_<12 hex>_` (base64url: it may hold '_' itself).
    for (const k of issued) assert.ok(!out.includes(k) && !out.includes(k.slice(-43)), 'an API key appeared in the gateway output');
    assert.ok(!out.includes(SECRET), 'the hash secret appeared in the gateway output');
  }
});

describe('file store, one gateway with 2 workers', { timeout: 120_000 }, () => {
  let gw: Gateway;
  let dir: string;
  let storeFile: string;
  let alice: KeyView & { key: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wicket-apikey-gw-'));
    storeFile = join(dir, 'keys.json');
    gw = await startGateway(config(up, `file: "${storeFile}"`), { workers: 2, adminToken: TOKEN, env: ENV });
    gateways.push(gw);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('without the hash secret the gateway does not start, and says where', async () => {
    await assert.rejects(startGateway(config(up, `file: "${storeFile}"`), { workers: 1, adminToken: TOKEN }), (err: Error) => {
      assert.match(err.message, /auth\.apiKey\.hashSecretEnv.*WICKET_API_KEY_SECRET is not set/);
      return true;
    });
  });

  test('admin API: behind the token; consumers made, listed, refused when duplicated or malformed', async () => {
    assert.equal((await admin(gw, 'GET', '/auth/apiKey/consumers', undefined, null)).status, 401);
    const r = await admin(gw, 'POST', '/auth/apiKey/consumers', { name: 'alice', roles: ['admin'], scopes: ['read', 'write'] });
    assert.equal(r.status, 201);
    assert.deepEqual(((await r.json()) as { name: string }).name, 'alice');
    assert.equal((await admin(gw, 'POST', '/auth/apiKey/consumers', { name: 'bob' })).status, 201);
    const dup = await admin(gw, 'POST', '/auth/apiKey/consumers', { name: 'alice' });
    assert.equal(dup.status, 409);
    assert.equal(((await dup.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_CONSUMER_EXISTS');
    for (const bad of [{ name: 'has space' }, { name: 'x', extra: 1 }, { roles: ['a'] }, { name: 'x', roles: 'admin' }]) {
      const b = await admin(gw, 'POST', '/auth/apiKey/consumers', bad);
      assert.equal(b.status, 400, JSON.stringify(bad));
      assert.equal(((await b.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_BAD_REQUEST');
    }
    assert.equal((await admin(gw, 'POST', '/auth/apiKey/consumers/nobody/keys', {})).status, 404);
    assert.equal((await admin(gw, 'PUT', '/auth/apiKey/consumers', {})).status, 405);
    assert.equal((await admin(gw, 'GET', '/auth/apiKey/elsewhere')).status, 404);
    const list = (await (await admin(gw, 'GET', '/auth/apiKey/consumers')).json()) as { consumers: { name: string; roles: string[]; keys: number }[] };
    assert.deepEqual(list.consumers.map((c) => [c.name, c.roles, c.keys]), [['alice', ['admin'], 0], ['bob', [], 0]]);
  });

  test('a new key is shown once, works on every worker; the upstream sees the consumer, not the key', async () => {
    alice = await newKey(gw, 'alice');
    assert.match(alice.key, /^wk_live_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(alice.prefix, `wk_live_${alice.id}`);
    const listed = await (await admin(gw, 'GET', '/auth/apiKey/consumers/alice/keys')).text();
    assert.ok(!listed.includes(alice.key.slice(alice.prefix.length + 1)), 'lists never hold the key');
    assert.deepEqual(Object.keys((JSON.parse(listed) as { keys: object[] }).keys[0]!).sort(), ['consumer', 'createdAt', 'expired', 'expiresAt', 'id', 'lastUsedAt', 'prefix']);

    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': alice.key }, 200), 'the key works on every worker');
    const r = await get(gw, '/k/a?x=1', { 'x-api-key': alice.key, 'x-consumer': 'mallory' });
    const saw = upstreamSaw(r);
    assert.equal(saw.headers['x-consumer'], 'alice', "the gateway's consumer header, not the client's");
    assert.equal(saw.headers['x-roles'], 'admin');
    assert.equal(saw.headers['x-api-key'], undefined, 'the key is taken off (hideCredentials defaults to true)');

    const q = await get(gw, `/k/q?a=1&api_key=${alice.key}&b=2`);
    assert.equal(q.status, 200);
    assert.equal(upstreamSaw(q).url, '/k/q?a=1&b=2', 'the query parameter is taken off too');
    const fwd = await get(gw, '/fwd/a', { 'x-key': alice.key });
    assert.equal(fwd.status, 200);
    assert.equal(upstreamSaw(fwd).headers['x-key'], alice.key, 'hideCredentials: false forwards it');
    assert.equal((await get(gw, '/admins/a', { 'x-api-key': alice.key })).status, 200, 'roles from the consumer record');
  });

  test('no key, a wrong key, a key of a consumer without the role: 401, 401, 403', async () => {
    const none = await get(gw, '/k/a');
    assert.equal(none.status, 401);
    assert.equal(code(none), 'WICKET_ERR_UNAUTHENTICATED');
    assert.equal(none.headers['www-authenticate'], undefined, 'no standard challenge for API keys');
    const wrong = `${alice.key.slice(0, -4)}AAAA`;
    assert.equal((await get(gw, '/k/a', { 'x-api-key': wrong })).status, 401);
    assert.equal((await get(gw, '/k/a', { 'x-api-key': 'x'.repeat(300) })).status, 401);
    assert.equal((await get(gw, '/k/a', { 'x-api-key': '' })).status, 401);
    const bob = await newKey(gw, 'bob');
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': bob.key }, 200));
    assert.equal((await get(gw, '/admins/a', { 'x-api-key': bob.key })).status, 403);
  });

  test('revoked: refused on every worker within one second', async () => {
    const k = await newKey(gw, 'alice');
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': k.key }, 200));
    const r = await admin(gw, 'DELETE', `/auth/apiKey/consumers/alice/keys/${k.id}`);
    assert.equal(r.status, 200);
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': k.key }, 401), 'refused by every worker within one second');
    assert.equal((await admin(gw, 'DELETE', `/auth/apiKey/consumers/alice/keys/${k.id}`)).status, 404);
    assert.equal((await get(gw, '/k/a', { 'x-api-key': alice.key })).status, 200, "alice's other key is untouched");
  });

  test('rotated: the old key works during the grace period and is refused after it; the new one works', async () => {
    const old = await newKey(gw, 'alice');
    const r = await admin(gw, 'POST', `/auth/apiKey/consumers/alice/keys/${old.id}/rotate`, { graceSeconds: 5 });
    assert.equal(r.status, 201);
    const fresh = (await r.json()) as KeyView & { key: string };
    issued.push(fresh.key);
    assert.notEqual(fresh.key, old.key);
    assert.equal(fresh.replaced!.id, old.id);
    const graceEnd = Date.parse(fresh.replaced!.expiresAt!);
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': fresh.key }, 200));
    // Still inside the grace period (by the gateway's own expiry time): the old key works everywhere.
    await worksUntil(gw, old.key, graceEnd);
    await sleep(graceEnd - Date.now() + 10);
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': old.key }, 401), 'refused after the grace period');
    assert.equal((await get(gw, '/k/a', { 'x-api-key': fresh.key })).status, 200);
    const keys = (await (await admin(gw, 'GET', '/auth/apiKey/consumers/alice/keys')).json()) as { keys: KeyView[] };
    const listedOld = keys.keys.find((k) => k.id === old.id)!;
    assert.equal(listedOld.replacedBy, fresh.id);
    assert.equal(listedOld.expired, true);
  });

  test('expiry: a key made with expiresInSeconds is refused from its expiry on', async () => {
    const k = await newKey(gw, 'bob', { expiresInSeconds: 5 });
    const end = Date.parse(k.expiresAt!);
    await worksUntil(gw, k.key, end);
    await sleep(end - Date.now() + 10);
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': k.key }, 401));
    assert.equal((await admin(gw, 'POST', '/auth/apiKey/consumers/bob/keys', { expiresInSeconds: 0 })).status, 400);
  });

  test('last used: reported by the workers in batches, shown in the key list', async () => {
    const k = await newKey(gw, 'alice');
    const listed = async () => ((await (await admin(gw, 'GET', '/auth/apiKey/consumers/alice/keys')).json()) as { keys: KeyView[] }).keys.find((x) => x.id === k.id)!;
    assert.equal((await listed()).lastUsedAt, null, 'never used yet');
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': k.key }, 200));
    let seen = await listed();
    for (let i = 0; i < 100 && seen.lastUsedAt === null; i++) {
      await sleep(50);
      seen = await listed();
    }
    assert.notEqual(seen.lastUsedAt, null, 'last used appears after a report period');
  });

  test('a deleted consumer takes its keys with it', async () => {
    const carol = await (async () => {
      assert.equal((await admin(gw, 'POST', '/auth/apiKey/consumers', { name: 'carol' })).status, 201);
      return newKey(gw, 'carol');
    })();
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': carol.key }, 200));
    assert.equal((await admin(gw, 'DELETE', '/auth/apiKey/consumers/carol')).status, 200);
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': carol.key }, 401));
    assert.equal((await admin(gw, 'GET', '/auth/apiKey/consumers/carol')).status, 404);
  });

  test('a reload (SIGHUP) keeps every worker\'s table: workers get only changes, and keep what they have', async () => {
    gw.writeConfig(config(up, `file: "${storeFile}"`).replace('hideCredentials: false', 'hideCredentials: true'));
    gw.signal('SIGHUP');
    await gw.waitFor('config reloaded');
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': alice.key }, 200));
    const fwd = await get(gw, '/fwd/a', { 'x-key': alice.key });
    assert.equal(fwd.status, 200);
    assert.equal(upstreamSaw(fwd).headers['x-key'], undefined, 'the new route settings are in force');
  });

  test('a restart keeps consumers and keys (the store file, mode 0600)', async () => {
    const before = await (await admin(gw, 'GET', '/auth/apiKey/consumers')).json();
    await gw.stop();
    assert.equal(statSync(storeFile).mode & 0o777, 0o600);
    gw = await startGateway(config(up, `file: "${storeFile}"`), { workers: 2, adminToken: TOKEN, env: ENV });
    gateways.push(gw);
    assert.deepEqual(await (await admin(gw, 'GET', '/auth/apiKey/consumers')).json(), before);
    assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': alice.key }, 200, 5000), 'the key works after the restart');
    const saw = upstreamSaw(await get(gw, '/k/a', { 'x-api-key': alice.key }));
    assert.equal(saw.headers['x-consumer'], 'alice');
  });
});

describe('Redis store, two gateways', { skip: redisSkip(), timeout: 120_000 }, () => {
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;

  before(async () => {
    redis = await startRedisServer();
    const store = `redis: { url: "${redis.url}", keyPrefix: "gwtest:{apikey}:" }`;
    // One after the other: four workers starting at once on a busy 2-vCPU machine can miss the harness's start deadline.
    a = await startGateway(config(up, store), { workers: 2, adminToken: TOKEN, env: ENV });
    gateways.push(a);
    b = await startGateway(config(up, store), { workers: 2, adminToken: TOKEN, env: ENV });
    gateways.push(b);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  test('a key made on A works on B; revoked on A, refused on every worker of B within one second', async () => {
    assert.equal((await admin(a, 'POST', '/auth/apiKey/consumers', { name: 'dave', scopes: ['read'] })).status, 201);
    assert.equal((await admin(b, 'POST', '/auth/apiKey/consumers', { name: 'dave' })).status, 409, 'B refuses the same name: one store');
    const k = await newKey(a, 'dave');
    assert.ok(await everyWorker(b, '/k/a', { 'x-api-key': k.key }, 200), 'on every worker of B within one second');
    assert.equal(upstreamSaw(await get(b, '/k/a', { 'x-api-key': k.key })).headers['x-consumer'], 'dave');
    assert.equal((await admin(a, 'DELETE', `/auth/apiKey/consumers/dave/keys/${k.id}`)).status, 200);
    assert.ok(await everyWorker(b, '/k/a', { 'x-api-key': k.key }, 401), 'refused on every worker of B within one second');
    assert.ok(await everyWorker(a, '/k/a', { 'x-api-key': k.key }, 401));
  });

  test('rotated on B: both gateways agree on the new key and the old one in grace; B lists what A used', async () => {
    const k = await newKey(a, 'dave');
    const r = await admin(b, 'POST', `/auth/apiKey/consumers/dave/keys/${k.id}/rotate`, {});
    assert.equal(r.status, 201);
    const fresh = (await r.json()) as KeyView & { key: string };
    issued.push(fresh.key);
    for (const gw of [a, b]) {
      assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': fresh.key }, 200));
      assert.ok(await everyWorker(gw, '/k/a', { 'x-api-key': k.key }, 200), 'the old key in its grace period (config: an hour)');
    }
    // A key made on B and used only on A: B's list shows A's use.
    const onlyA = await newKey(b, 'dave');
    const listed = async () => ((await (await admin(b, 'GET', '/auth/apiKey/consumers/dave/keys')).json()) as { keys: KeyView[] }).keys.find((x) => x.id === onlyA.id)!;
    let v = await listed();
    assert.equal(v.lastUsedAt, null);
    for (let i = 0; i < 200 && v.lastUsedAt === null; i++) {
      await get(a, '/k/a', { 'x-api-key': onlyA.key });
      await sleep(50);
      v = await listed();
    }
    assert.notEqual(v.lastUsedAt, null, "A's use, reported through Redis");
  });
});
