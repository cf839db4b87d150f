import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBasic } from './credentials.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

test('parseBasic: user and password; the password may hold colons; the scheme is case-insensitive', () => {
  assert.deepEqual(parseBasic(`Basic ${b64('alice:pa:ss')}`), { user: 'alice', password: 'pa:ss' });
  assert.deepEqual(parseBasic(`BASIC ${b64('alice:')}`), { user: 'alice', password: '' });
  assert.deepEqual(parseBasic(`basic   ${b64('José:Pässwort')}  `), { user: 'José', password: 'Pässwort' });
});

test('parseBasic: no header or another scheme is no credential', () => {
  assert.equal(parseBasic(undefined), null);
  assert.equal(parseBasic('Bearer abc.def'), null);
  assert.equal(parseBasic('Basically nothing'), null);
});

test('parseBasic: malformed Basic credentials', () => {
  for (const h of ['Basic', 'Basic ', 'Basic !!!!', 'Basic YWJj', `Basic ${b64('nocolon')}`, `Basic ${b64(':pw')}`, `Basic ${b64(Buffer.from([0x61, 0x3a, 0xc3]))}`, `Basic ${b64('a:b\nc')}`, `Basic ${'A'.repeat(4100)}`, `Basic ${b64('a:b')} extra`]) {
    assert.equal(parseBasic(h), 'malformed', h.slice(0, 40));
  }
});
