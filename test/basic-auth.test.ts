// Basic auth (RFC 7617) through a real gateway and a real upstream: bcrypt
// (cost 10) and argon2id users from an htpasswd file, the 401 and its
// challenge, malformed headers, the credential hidden from the upstream,
// roles to the upstream, a changed file picked up on SIGHUP (and the success
// cache forgetting the old password), a bad config refused at load with its
// path, a full hashing queue answered 503 without a worker dying, and no
// password (nor its base64) in the gateway's output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from '@node-rs/bcrypt';
import argon2 from '@node-rs/argon2';
import { CLI, startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';

const PASSWORDS = { alice: 'correct horse battery staple', bob: 'tr0ub4dor&3-argon', carol: 'first-Pässwort' };
const dir = mkdtempSync(join(tmpdir(), 'wicket-basic-'));
const htpasswd = join(dir, 'users.htpasswd');

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const basic = (user: string, password: string): string => `Basic ${b64(`${user}:${password}`)}`;

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}
async function get(gw: Gateway, path: string, authorization?: string): Promise<Answer> {
  const r = await fetch(`${gw.url}${path}`, { headers: authorization === undefined ? {} : { authorization } });
  return { status: r.status, headers: r.headers, body: await r.text() };
}
const code = (a: Answer): string => {
  try {
    return (JSON.parse(a.body) as { error?: { code?: string } }).error?.code ?? '';
  } catch {
    return '';
  }
};

function routes(upstream: Upstream, file: string, section = ''): string {
  return `upstreams:
  up: { targets: [ { url: "${upstream.url}" } ] }
auth:
  basic:
    realms:
      staff: { htpasswd: "${file}" }
${section}routes:
  - name: staff
    match: { path: "/staff/*" }
    upstream: up
    auth:
      methods: [ { basic: { realm: staff } } ]
      upstreamHeaders: { x-consumer: consumer, x-roles: roles, x-method: method }
  - name: keep
    match: { path: "/keep/*" }
    upstream: up
    auth:
      methods: [ { basic: { realm: staff, hideCredentials: false } } ]
  - name: open
    match: { path: "/open/*" }
    upstream: up
`;
}

describe('basic auth through the gateway', () => {
  let upstream: Upstream;
  let gw: Gateway;
  before(async () => {
    writeFileSync(
      htpasswd,
      [
        '# staff',
        `alice:${bcrypt.hashSync(PASSWORDS.alice, 10)}:admin,ops`,
        `bob:${argon2.hashSync(PASSWORDS.bob)}`,
        `carol:${bcrypt.hashSync(PASSWORDS.carol, 10).replace('$2b$', '$2y$')}`,
        '',
      ].join('\n'),
    );
    upstream = await startUpstream();
    gw = await startGateway(routes(upstream, htpasswd), { workers: 2, accessLog: true });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  test('a bcrypt (cost 10) user is let through: consumer and roles go upstream, the password does not', async () => {
    const r = await get(gw, '/staff/a', basic('alice', PASSWORDS.alice));
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-consumer'], 'alice');
    assert.equal(seen.headers['x-roles'], 'admin,ops');
    assert.equal(seen.headers['x-method'], 'basic');
    assert.equal(seen.headers.authorization, undefined, 'hideCredentials defaults to true');
  });

  test('an argon2id user and a $2y$ bcrypt user with a UTF-8 password are let through', async () => {
    const r = await get(gw, '/staff/b', basic('bob', PASSWORDS.bob));
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { headers: Record<string, string> }).headers['x-consumer'], 'bob');
    const c = await get(gw, '/staff/c', basic('carol', PASSWORDS.carol));
    assert.equal(c.status, 200, c.body);
  });

  test('the same good credentials again are answered the same (the success cache path)', async () => {
    for (let i = 0; i < 20; i++) assert.equal((await get(gw, '/staff/again', basic('alice', PASSWORDS.alice))).status, 200);
  });

  test('hideCredentials: false forwards the Authorization header', async () => {
    const r = await get(gw, '/keep/x', basic('alice', PASSWORDS.alice));
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { headers: Record<string, string> }).headers.authorization, basic('alice', PASSWORDS.alice));
  });

  test('a wrong password, an unknown user and no credentials are 401 with the Basic challenge', async () => {
    for (const auth of [basic('alice', 'not-it'), basic('bob', PASSWORDS.alice), basic('mallory', PASSWORDS.alice), undefined]) {
      const r = await get(gw, '/staff/x', auth);
      assert.equal(r.status, 401, `${auth}: ${r.body}`);
      assert.equal(code(r), 'WICKET_ERR_UNAUTHENTICATED');
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="staff", charset="UTF-8"');
    }
  });

  test('malformed Basic credentials are 401: bad base64, no colon, bad UTF-8, control bytes, empty', async () => {
    const bad = [
      'Basic !!!notbase64',
      'Basic YWxpY2U', // unpadded
      `Basic ${b64('no-colon-here')}`,
      `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`,
      `Basic ${b64('alice:pass\u0001word')}`,
      `Basic ${b64(':nouser')}`,
      'Basic',
      'basic    ',
    ];
    for (const auth of bad) {
      const r = await get(gw, '/staff/m', auth);
      assert.equal(r.status, 401, `${JSON.stringify(auth)}: ${r.body}`);
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="staff", charset="UTF-8"');
    }
    // Another scheme is not a Basic credential: no credential, still 401.
    assert.equal((await get(gw, '/staff/m', 'Bearer abc')).status, 401);
    // The scheme is case-insensitive.
    assert.equal((await get(gw, '/staff/m', `bAsIc ${b64(`alice:${PASSWORDS.alice}`)}`)).status, 200);
  });

  test('a route without auth is not affected', async () => {
    assert.equal((await get(gw, '/open/x')).status, 200);
  });

  test('SIGHUP re-reads the htpasswd file: a changed password works, the old one (cached) no longer does', async () => {
    assert.equal((await get(gw, '/staff/r', basic('alice', PASSWORDS.alice))).status, 200);
    const next = 'a brand new passphrase';
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync(next, 10)}\nbob:${argon2.hashSync(PASSWORDS.bob)}\n`);
    const from = gw.output.length;
    gw.signal('SIGHUP');
    await gw.waitFor('config reloaded', 15_000);
    assert.ok(!gw.output.slice(from).some((l) => l.includes('refused')), gw.output.slice(from).join('\n'));
    // Both workers: fresh connections land on either.
    for (let i = 0; i < 6; i++) {
      const old = await fetch(`${gw.url}/staff/r`, { headers: { authorization: basic('alice', PASSWORDS.alice), connection: 'close' } });
      assert.equal(old.status, 401);
      await old.text();
      const now = await fetch(`${gw.url}/staff/r`, { headers: { authorization: basic('alice', next), connection: 'close' } });
      assert.equal(now.status, 200);
      const roles = (JSON.parse(await now.text()) as { headers: Record<string, string> }).headers['x-roles'];
      assert.equal(roles, undefined, 'the new line has no roles');
    }
    assert.equal((await get(gw, '/staff/r', basic('carol', PASSWORDS.carol))).status, 401, 'carol was removed');
  });

  test('no password and no Authorization value ever reaches the gateway output', async () => {
    await new Promise((r) => setTimeout(r, 1200)); // the access log flushes once a second
    const all = gw.output.join('\n');
    assert.ok(all.includes('/staff/'), 'the access log was written');
    for (const [user, pw] of Object.entries(PASSWORDS)) {
      assert.ok(!all.includes(pw), `password of ${user} in the output`);
      assert.ok(!all.includes(b64(`${user}:${pw}`)), `base64 credentials of ${user} in the output`);
    }
    assert.ok(!all.includes('not-it'));
  });
});

describe('a bad basic config is refused at load with its path', () => {
  const validate = (yaml: string): { status: number | null; out: string } => {
    const file = join(dir, `gateway-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `listen: { http: { host: 127.0.0.1, port: 18080 } }\n${yaml}`);
    const r = spawnSync(process.execPath, [CLI, 'validate', file], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const cfg = (file: string, realm: string): string => `upstreams:
  up: { targets: [ { url: "http://127.0.0.1:9" } ] }
auth:
  basic:
    realms:
      staff: { htpasswd: "${file}" }
routes:
  - name: r
    match: { path: "/r" }
    upstream: up
    auth: { methods: [ { basic: { realm: ${realm} } } ] }
`;

  test('an unknown realm', () => {
    writeFileSync(join(dir, 'ok.htpasswd'), `alice:${bcrypt.hashSync('x', 4)}\n`);
    const r = validate(cfg('ok.htpasswd', 'nosuch'));
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /routes\[0\]\.auth\.methods\[0\]\.basic\.realm: unknown realm "nosuch"/);
  });

  test('an htpasswd with MD5-crypt, SHA1, plaintext and a bad line: each with its line number; a relative path resolves from the config folder', () => {
    writeFileSync(
      join(dir, 'weak.htpasswd'),
      [`alice:${bcrypt.hashSync('x', 4)}`, 'md5:$apr1$abc$0123456789abcdef012345', 'sha:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=', 'plain:hunter2', 'no-hash-here', ''].join('\n'),
    );
    const r = validate(cfg('weak.htpasswd', 'staff'));
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /auth\.basic\.realms\.staff\.htpasswd: .*weak\.htpasswd: line 2: MD5-crypt/);
    assert.match(r.out, /line 3: SHA1/);
    assert.match(r.out, /line 4: not a bcrypt/);
    assert.match(r.out, /line 5: expected user:hash/);
    assert.ok(!r.out.includes('hunter2'), 'the file content is not echoed');
  });

  test('a missing htpasswd file', () => {
    const r = validate(cfg('missing.htpasswd', 'staff'));
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /auth\.basic\.realms\.staff\.htpasswd: .*missing\.htpasswd: cannot be read \(ENOENT\)/);
  });

  test('a route with basic and no auth.basic section', () => {
    const r = validate(`upstreams:\n  up: { targets: [ { url: "http://127.0.0.1:9" } ] }\nroutes:\n  - name: r\n    match: { path: "/r" }\n    upstream: up\n    auth: { methods: [ { basic: { realm: staff } } ] }\n`);
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /basic\.realm: basic auth needs the top-level auth\.basic\.realms/);
  });
});

describe('a full hashing queue', () => {
  let upstream: Upstream;
  let gw: Gateway;
  before(async () => {
    writeFileSync(join(dir, 'queue.htpasswd'), `alice:${bcrypt.hashSync(PASSWORDS.alice, 10)}\n`);
    upstream = await startUpstream();
    gw = await startGateway(routes(upstream, join(dir, 'queue.htpasswd'), '    threads: 1\n    maxQueue: 1\n'), { workers: 1 });
  });
  after(async () => {
    await gw?.stop();
    await upstream?.close();
  });

  test('is answered 503 WICKET_ERR_AUTH_UNAVAILABLE at once, the rest 401, and the worker lives', async () => {
    const pids = workerPids(gw);
    assert.equal(pids.length, 1);
    // Distinct wrong passwords: identical ones would share one check.
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => get(gw, '/staff/q', basic('alice', `wrong-${i}`))));
    const busy = answers.filter((a) => a.status === 503);
    const refused = answers.filter((a) => a.status === 401);
    assert.equal(busy.length + refused.length, answers.length, answers.map((a) => a.status).join(','));
    assert.ok(busy.length > 0, 'some checks found the queue full');
    assert.ok(refused.length >= 2, 'the pool still checked some');
    for (const b of busy) {
      assert.equal(code(b), 'WICKET_ERR_AUTH_UNAVAILABLE');
      assert.equal(b.headers.get('www-authenticate'), null, 'a 503 is not a challenge');
    }
    // The pool drains and serves again; the same process.
    assert.equal((await get(gw, '/staff/q', basic('alice', PASSWORDS.alice))).status, 200);
    assert.deepEqual(workerPids(gw), pids);
    assert.ok(!gw.output.some((l) => l.includes('worker died')));
  });
});
