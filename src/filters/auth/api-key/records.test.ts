import { test } from 'node:test';
import assert from 'node:assert/strict';
import { State, rotated, toWorker, type KeyRecord } from './records.js';

const T = 1_700_000_000_000;
const consumer = (name: string) => ({ name, roles: ['r'], scopes: ['s'], createdAt: T });
const key = (id: string, c: string, expiresAt: number | null = null): KeyRecord => ({ id, consumer: c, hash: `h${id}`, shown: `wk_live_${id}`, createdAt: T, expiresAt });

test('intents are checked against the records: duplicates, unknown consumers and keys, keys of another consumer', () => {
  const s = new State();
  assert.equal(s.prepare({ op: 'key', key: key('a1', 'alice') }), 'no-consumer');
  s.apply(s.prepare({ op: 'consumer', consumer: consumer('alice') }) as never);
  assert.equal(s.prepare({ op: 'consumer', consumer: consumer('alice') }), 'consumer-exists');
  s.apply(s.prepare({ op: 'key', key: key('a1', 'alice') }) as never);
  assert.equal(s.prepare({ op: 'key', key: key('a1', 'alice') }), 'key-exists');
  s.apply(s.prepare({ op: 'consumer', consumer: consumer('bob') }) as never);
  assert.equal(s.prepare({ op: 'key-del', consumer: 'bob', id: 'a1' }), 'no-key', "bob cannot revoke alice's key");
  assert.equal(s.prepare({ op: 'rotate', oldId: 'a1', graceUntil: T, key: key('b1', 'bob') }), 'no-key');
  assert.equal(s.prepare({ op: 'consumer-del', name: 'carol' }), 'no-consumer');
});

test('rotation: the old key ends at the grace end, or sooner when it expired sooner; it names its successor', () => {
  assert.deepEqual(rotated(key('a1', 'alice'), T + 60_000, 'a2'), { ...key('a1', 'alice'), expiresAt: T + 60_000, replacedBy: 'a2' });
  assert.equal(rotated(key('a1', 'alice', T + 1000), T + 60_000, 'a2').expiresAt, T + 1000);
  const s = new State();
  s.apply({ op: 'consumer', consumer: consumer('alice') });
  s.apply({ op: 'key', key: key('a1', 'alice') });
  const c = s.prepare({ op: 'rotate', oldId: 'a1', graceUntil: T + 5000, key: key('a2', 'alice') });
  assert.ok(typeof c !== 'string' && c.op === 'rotate');
  s.apply(c);
  assert.equal(s.keys.get('a1')!.expiresAt, T + 5000);
  assert.deepEqual(toWorker(c), { t: 'put', keys: [{ id: 'a1', consumer: 'alice', hash: 'ha1', expiresAt: T + 5000 }, { id: 'a2', consumer: 'alice', hash: 'ha2', expiresAt: null }] });
});

test('undo puts back exactly what a change touched (a consumer deleted with its keys)', () => {
  const s = new State();
  s.apply({ op: 'consumer', consumer: consumer('alice') });
  s.apply({ op: 'consumer', consumer: consumer('bob') });
  s.apply({ op: 'key', key: key('a1', 'alice') });
  s.apply({ op: 'key', key: key('a2', 'alice') });
  s.apply({ op: 'key', key: key('b1', 'bob') });
  const snap = () => JSON.stringify([[...s.consumers].sort(), [...s.keys].sort()]);
  const before = snap();
  const undo = s.apply({ op: 'consumer-del', name: 'alice' });
  assert.deepEqual([...s.keys.keys()], ['b1']);
  assert.deepEqual([...s.consumers.keys()], ['bob']);
  undo();
  assert.equal(snap(), before);
  // The whole table a worker gets carries hashes, never anything else secret.
  const all = s.all();
  assert.equal(all.t, 'all');
  assert.deepEqual(Object.keys((all as { keys: object[] }).keys[0]!).sort(), ['consumer', 'expiresAt', 'hash', 'id']);
});
