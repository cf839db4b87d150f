import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from '@node-rs/bcrypt';
import argon2 from '@node-rs/argon2';
import { AuthFailure } from '../authenticator.js';
import type { HtpasswdUser } from './htpasswd.js';
import type { BasicSectionConfig } from './schema.js';
import { BasicService, dummyHash } from './service.js';

/** A service over one realm `r` whose file `u` (in a fresh folder) holds `lines`; `write` replaces the file. */
function withService(lines: string, extra: Partial<BasicSectionConfig> = {}): { s: BasicService; write(text: string): void; configure(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-basic-svc-'));
  const write = (text: string) => writeFileSync(join(dir, 'u'), text);
  write(lines);
  const s = new BasicService();
  const configure = () => s.configure({ realms: { r: { htpasswd: 'u' } }, niceIncrement: 0, ...extra }, dir);
  configure();
  return { s, write, configure };
}

test('dummyHash: the parameters most users have; a real bcrypt hash when the realm is empty', () => {
  const b10 = bcrypt.hashSync('x', 10);
  const b10b = bcrypt.hashSync('y', 10);
  const b4 = bcrypt.hashSync('x', 4);
  const users = (hs: string[]): Map<string, HtpasswdUser> => new Map(hs.map((hash, i) => [`u${i}`, { hash, roles: [] }]));
  assert.ok(dummyHash(users([b4, b10, b10b])).startsWith('$2b$10$'));
  const a = argon2.hashSync('x');
  assert.ok(dummyHash(users([a, a.replace(/\$[^$]+\$[^$]+$/, '$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA'), b4])).startsWith('$argon2id$'));
  assert.ok(dummyHash(new Map()).startsWith('$2b$10$'));
});

test('service: good, wrong, unknown; a cached success answers synchronously; a reload with a changed file forgets it', async () => {
  const { s, write, configure } = withService(`alice:${bcrypt.hashSync('pw', 4)}:admin\n`);
  try {
    const first = s.check('r', 'alice', 'pw');
    assert.ok(first instanceof Promise);
    assert.deepEqual(await first, { method: 'basic', consumer: 'alice', claims: { realm: 'r' }, scopes: [], roles: ['admin'] });
    const again = s.check('r', 'alice', 'pw');
    assert.ok(!(again instanceof Promise), 'a cached success costs no hash');
    const wrong = await s.check('r', 'alice', 'nope');
    assert.ok(wrong instanceof AuthFailure && wrong.kind === 'invalid');
    const unknown = await s.check('r', 'mallory', 'pw');
    assert.ok(unknown instanceof AuthFailure && unknown.kind === 'invalid');
    // Same file again: the cache stays.
    configure();
    assert.ok(!(s.check('r', 'alice', 'pw') instanceof Promise));
    write(`alice:${bcrypt.hashSync('new', 4)}\n`);
    configure();
    const old = s.check('r', 'alice', 'pw');
    assert.ok(old instanceof Promise);
    assert.ok((await old) instanceof AuthFailure);
    // A file gone bad since: configure throws and the service keeps what it had.
    write('alice:plaintext\n');
    assert.throws(configure, /line 1/);
    assert.ok(!((await s.check('r', 'alice', 'new')) instanceof AuthFailure));
  } finally {
    s.close();
  }
});

test('service: concurrent checks of the same credentials share one hash', async () => {
  const { s } = withService(`alice:${bcrypt.hashSync('pw', 6)}\n`, { threads: 1, maxQueue: 0 });
  try {
    // maxQueue 0: one check at a time; ten identical requests still all pass.
    const all = await Promise.all(Array.from({ length: 10 }, () => s.check('r', 'alice', 'pw')));
    for (const r of all) assert.ok(!(r instanceof AuthFailure), String((r as AuthFailure).kind));
    const busy = await Promise.all([s.check('r', 'alice', 'x1'), s.check('r', 'alice', 'x2')]);
    assert.deepEqual(busy.map((r) => (r as AuthFailure).kind), ['invalid', 'busy']);
  } finally {
    s.close();
  }
});

test('service: a check under way against a hash a reload replaced is not shared with later requests', async () => {
  const { s, write, configure } = withService(`alice:${bcrypt.hashSync('old', 8)}\n`);
  try {
    const before = s.check('r', 'alice', 'old'); // under way while the file changes
    write(`alice:${bcrypt.hashSync('new', 8)}\n`);
    configure();
    const after = s.check('r', 'alice', 'old');
    assert.ok(!((await before) instanceof AuthFailure), 'asked before the reload: the old password held then');
    const a = await after;
    assert.ok(a instanceof AuthFailure && a.kind === 'invalid', 'asked after the reload: checked against the new hash');
    const again = await s.check('r', 'alice', 'old');
    assert.ok(again instanceof AuthFailure, 'and the old password was not cached against the new hash');
    assert.ok(!((await s.check('r', 'alice', 'new')) instanceof AuthFailure));
  } finally {
    s.close();
  }
});
