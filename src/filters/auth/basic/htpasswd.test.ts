import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from '@node-rs/bcrypt';
import argon2 from '@node-rs/argon2';
import { hashError, loadHtpasswd, parseHtpasswd } from './htpasswd.js';

const B = bcrypt.hashSync('pw', 4);
const A_ID = argon2.hashSync('pw', { algorithm: argon2.Algorithm.Argon2id });
const A_I = argon2.hashSync('pw', { algorithm: argon2.Algorithm.Argon2i });

test('htpasswd: bcrypt $2a$/$2b$/$2y$, argon2id and argon2i lines; comments, blank lines, CRLF; roles in a third field', () => {
  const text = [
    '# a comment',
    `a:${B.replace('$2b$', '$2a$')}`,
    `b:${B}:admin,ops,admin`,
    '',
    `y:${B.replace('$2b$', '$2y$')}\r`,
    `id:${A_ID}:`,
    `   # indented comment`,
    `i:${A_I}:reader`,
    `with space inside:${B}`,
  ].join('\n');
  const { users, errors } = parseHtpasswd(text);
  assert.deepEqual(errors, []);
  assert.deepEqual([...users.keys()], ['a', 'b', 'y', 'id', 'i', 'with space inside']);
  assert.deepEqual(users.get('b')!.roles, ['admin', 'ops']);
  assert.deepEqual(users.get('id')!.roles, []);
  assert.deepEqual(users.get('i')!.roles, ['reader']);
  assert.equal(users.get('y')!.hash, B.replace('$2b$', '$2y$'), 'the CR is not part of the hash');
});

test('htpasswd: each refused line is reported with its line number, and no hash is quoted', () => {
  const lines = [
    `ok:${B}`,
    'md5:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/',
    'md5crypt:$1$saltsalt$qjXMvbEw8oaL.CzflDugX/',
    'sha:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=',
    'sha512:$6$rounds=5000$salt$abc',
    'plain:hunter2',
    `d:${A_ID.replace('$argon2id$', '$argon2d$')}`,
    `costly:${B.replace('$04$', '$17$')}`,
    `cheap:${B.replace('$04$', '$03$')}`,
    'broken:$2b$10$tooshort',
    `ok:${B}`,
    ':$2b$',
    `a:b:c:d`,
    'no-colon',
    `bad roles:${B}:has space`,
    ` leading:${B}`,
    `big:${A_ID.replace(/m=\d+/, 'm=9999999')}`,
  ];
  const { users, errors } = parseHtpasswd(lines.join('\n'));
  assert.deepEqual([...users.keys()], ['ok']);
  const byLine = new Map(errors.map((e) => [e.line, e.message]));
  assert.match(byLine.get(2)!, /MD5-crypt/);
  assert.match(byLine.get(3)!, /MD5-crypt/);
  assert.match(byLine.get(4)!, /SHA1/);
  assert.match(byLine.get(5)!, /SHA-crypt/);
  assert.match(byLine.get(6)!, /not a bcrypt .* hash \(plaintext/);
  assert.match(byLine.get(7)!, /argon2d/);
  assert.match(byLine.get(8)!, /bcrypt cost 17 is above 16/);
  assert.match(byLine.get(9)!, /below the minimum 4/);
  assert.match(byLine.get(10)!, /malformed bcrypt/);
  assert.match(byLine.get(11)!, /"ok" is listed twice/);
  assert.match(byLine.get(12)!, /user name is empty/);
  assert.match(byLine.get(13)!, /expected user:hash/);
  assert.match(byLine.get(14)!, /expected user:hash/);
  assert.match(byLine.get(15)!, /roles must be/);
  assert.match(byLine.get(16)!, /spaces at its ends/);
  assert.match(byLine.get(17)!, /argon2 memory m=9999999/);
  assert.equal(errors.length, 16);
  for (const e of errors) assert.ok(!e.message.includes('hunter2') && !e.message.includes('$apr1$r31'), e.message);
});

test('hashError: null for the accepted formats', () => {
  for (const h of [B, A_ID, A_I]) assert.equal(hashError(h), null);
});

test('loadHtpasswd: relative to the config folder; errors name the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-htpasswd-'));
  writeFileSync(join(dir, 'u.htpasswd'), `a:${B}\nb:plain\n`);
  assert.throws(() => loadHtpasswd('u.htpasswd', dir), new RegExp(`${join(dir, 'u.htpasswd').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: line 2: not a bcrypt`));
  writeFileSync(join(dir, 'v.htpasswd'), `a:${B}\n`);
  assert.deepEqual([...loadHtpasswd('v.htpasswd', dir).users.keys()], ['a']);
  assert.throws(() => loadHtpasswd('nope', dir), /nope: cannot be read \(ENOENT\)/);
});
