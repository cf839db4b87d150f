import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { FileStore, readStoreFile, writeAtomic } from './file-store.js';
import type { Change, KeyRecord } from './records.js';
import { StoreUnavailableError, type StoreEvents } from './store.js';

const log = pino({ level: 'silent' });
const T = 1_700_000_000_000;
const key = (id: string, expiresAt: number | null = null): KeyRecord => ({ id, consumer: 'alice', hash: 'h'.repeat(43), shown: `wk_live_${id}`, createdAt: T, expiresAt });

function events(): StoreEvents & { seen: Change[] } {
  const seen: Change[] = [];
  return { seen, changed: (c) => seen.push(c), reloaded: () => undefined };
}

test('writeAtomic: the new content whole, mode 0600, no temp file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-apikey-'));
  const f = join(dir, 'keys.json');
  writeFileSync(f, 'old', { mode: 0o644 });
  await writeAtomic(f, 'new content');
  assert.equal(readFileSync(f, 'utf8'), 'new content');
  assert.equal(statSync(f).mode & 0o777, 0o600, 'the rename brought the temp file and its mode');
  assert.deepEqual(readdirSync(dir), ['keys.json']);
  rmSync(dir, { recursive: true });
});

test('changes survive a new store on the same file (a restart); last-used times too, on close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-apikey-'));
  const f = join(dir, 'keys.json');
  const ev = events();
  const a = new FileStore(f, ev, log);
  assert.equal(a.state.keys.size, 0, 'no file yet: empty');
  assert.equal(typeof (await a.commit({ op: 'consumer', consumer: { name: 'alice', roles: ['admin'], scopes: ['read'], createdAt: T } })), 'object');
  await a.commit({ op: 'key', key: key('aaaaaaaaaaaa') });
  await a.commit({ op: 'rotate', oldId: 'aaaaaaaaaaaa', graceUntil: T + 1000, key: key('bbbbbbbbbbbb', T + 9000) });
  assert.equal(await a.commit({ op: 'key', key: { ...key('cccccccccccc'), consumer: 'nobody' } }), 'no-consumer');
  assert.deepEqual(ev.seen.map((c) => c.op), ['consumer', 'key', 'rotate'], 'refusals are not broadcast');
  a.used('bbbbbbbbbbbb', T + 500);
  await a.close();
  assert.equal(statSync(f).mode & 0o777, 0o600);

  const b = new FileStore(f, events(), log);
  assert.deepEqual(b.state.consumers.get('alice'), { name: 'alice', roles: ['admin'], scopes: ['read'], createdAt: T });
  assert.deepEqual(b.state.keys.get('aaaaaaaaaaaa'), { ...key('aaaaaaaaaaaa'), expiresAt: T + 1000, replacedBy: 'bbbbbbbbbbbb' });
  assert.equal(b.state.keys.get('bbbbbbbbbbbb')!.expiresAt, T + 9000);
  assert.deepEqual(await b.lastUsed(['bbbbbbbbbbbb', 'aaaaaaaaaaaa']), [T + 500, null]);
  await b.commit({ op: 'consumer-del', name: 'alice' });
  await b.close();
  const c = readStoreFile(f);
  assert.deepEqual([c.consumers.length, c.keys.length], [0, 0]);
  rmSync(dir, { recursive: true });
});

test('a write that fails refuses the change and leaves the records as they were', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-apikey-'));
  const ev = events();
  const s = new FileStore(join(dir, 'sub', 'keys.json'), ev, log); // the folder does not exist: every write fails
  await assert.rejects(s.commit({ op: 'consumer', consumer: { name: 'alice', roles: [], scopes: [], createdAt: T } }), StoreUnavailableError);
  assert.equal(s.state.consumers.size, 0);
  assert.deepEqual(ev.seen, []);
  rmSync(dir, { recursive: true });
});

test('a file that is not a key store is refused with what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-apikey-'));
  const f = join(dir, 'keys.json');
  writeFileSync(f, '{"version":1,"consumers":[],"keys":[{"id":"x"}]}');
  assert.throws(() => readStoreFile(f), /not an API-key store \(\/keys\/0/);
  writeFileSync(f, '{');
  assert.throws(() => new FileStore(f, events(), log), /not JSON/);
  rmSync(dir, { recursive: true });
});
