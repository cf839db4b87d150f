// The Redis store against a private redis-server (test/helpers/redis-server.ts):
// two stores on one prefix play two gateways' supervisors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import pino from 'pino';
import { redisSkip, startRedisServer, type RedisServer } from '../../../../test/helpers/redis-server.js';
import { until } from '../../../../test/helpers/wait.js';
import type { Change, KeyRecord } from './records.js';
import { RedisStore } from './redis-store.js';
import { StoreUnavailableError, type StoreEvents } from './store.js';

const skip = redisSkip();
const log = pino({ level: 'silent' });
const T = 1_700_000_000_000;
const key = (id: string, consumer = 'alice', expiresAt: number | null = null): KeyRecord => ({ id, consumer, hash: 'h'.repeat(43), shown: `wk_live_${id}`, createdAt: T, expiresAt });

let srv: RedisServer;
let prefixSeq = 0;
/** Every store made, closed at the end even when a test failed (open connections would keep the file running). */
const made: RedisStore[] = [];
const store = (prefix: string, e: StoreEvents): RedisStore => {
  const s = new RedisStore({ url: srv.url, keyPrefix: prefix }, e, log);
  made.push(s);
  return s;
};

function events(): StoreEvents & { seen: Change[]; reloads: number } {
  const e = { seen: [] as Change[], reloads: 0, changed: (c: Change) => e.seen.push(c), reloaded: () => void e.reloads++ };
  return e;
}

async function pair(): Promise<{ a: RedisStore; b: RedisStore; ea: ReturnType<typeof events>; eb: ReturnType<typeof events>; prefix: string }> {
  const prefix = `t${++prefixSeq}:{apikey}:`;
  const ea = events();
  const eb = events();
  const a = store(prefix, ea);
  const b = store(prefix, eb);
  assert.ok(await until(() => a.ready && b.ready, 5000), 'both loaded');
  return { a, b, ea, eb, prefix };
}

before(async () => {
  if (!skip) srv = await startRedisServer();
});
after(async () => {
  await Promise.all(made.map((s) => s.close()));
  await srv?.stop();
});

test('a change made through one store reaches the other in order; refusals come from Redis', { skip }, async () => {
  const { a, b, eb } = await pair();
  await a.commit({ op: 'consumer', consumer: { name: 'alice', roles: ['admin'], scopes: [], createdAt: T } });
  assert.equal(await b.commit({ op: 'consumer', consumer: { name: 'alice', roles: [], scopes: [], createdAt: T } }), 'consumer-exists');
  await a.commit({ op: 'key', key: key('aaaaaaaaaaaa') });
  assert.equal(await b.commit({ op: 'key', key: key('bbbbbbbbbbbb', 'nobody') }), 'no-consumer');
  const r = await b.commit({ op: 'rotate', oldId: 'aaaaaaaaaaaa', graceUntil: T + 60_000, key: key('cccccccccccc') });
  assert.ok(typeof r !== 'string' && r.op === 'rotate');
  assert.deepEqual(r.old, { ...key('aaaaaaaaaaaa'), expiresAt: T + 60_000, replacedBy: 'cccccccccccc' }, 'rewritten in Lua, times exact');
  assert.equal(await a.commit({ op: 'key-del', consumer: 'bob', id: 'cccccccccccc' }), 'no-key');
  await a.commit({ op: 'key-del', consumer: 'alice', id: 'cccccccccccc' });
  assert.ok(await until(() => eb.seen.length === 4 && a.state.keys.size === 1, 2000));
  assert.deepEqual(eb.seen.map((c) => c.op), ['consumer', 'key', 'rotate', 'key-del']);
  for (const s of [a, b]) {
    assert.deepEqual([...s.state.keys.keys()], ['aaaaaaaaaaaa']);
    assert.equal(s.state.keys.get('aaaaaaaaaaaa')!.expiresAt, T + 60_000);
  }
  await a.commit({ op: 'consumer-del', name: 'alice' });
  assert.ok(await until(() => b.state.keys.size === 0 && b.state.consumers.size === 0, 2000), 'the consumer and its keys');
  await Promise.all([a.close(), b.close()]);
});

test('a store started later loads what is there; a missed change (version gap) reloads everything', { skip }, async () => {
  const { a, b, prefix } = await pair();
  await a.commit({ op: 'consumer', consumer: { name: 'alice', roles: [], scopes: [], createdAt: T } });
  await a.commit({ op: 'key', key: key('aaaaaaaaaaaa') });
  const ec = events();
  const c = store(prefix, ec);
  assert.ok(await until(() => c.ready, 5000));
  assert.deepEqual([...c.state.keys.keys()], ['aaaaaaaaaaaa']);
  // A change written behind the stores' backs (no message): the next message's number shows the gap.
  const direct = new Redis(srv.url);
  await direct.hset(`${prefix}keys`, 'dddddddddddd', JSON.stringify(key('dddddddddddd')));
  await direct.incr(`${prefix}version`);
  const reloads = ec.reloads;
  await a.commit({ op: 'key', key: key('eeeeeeeeeeee') });
  assert.ok(await until(() => c.state.keys.has('dddddddddddd') && c.state.keys.has('eeeeeeeeeeee'), 3000));
  assert.ok(ec.reloads > reloads, 'by a reload');
  direct.disconnect();
  await Promise.all([a.close(), b.close(), c.close()]);
});

test('last-used times from either store are visible to both', { skip }, async () => {
  const { a, b } = await pair();
  await a.commit({ op: 'consumer', consumer: { name: 'alice', roles: [], scopes: [], createdAt: T } });
  await a.commit({ op: 'key', key: key('aaaaaaaaaaaa') });
  assert.ok(await until(() => b.state.keys.has('aaaaaaaaaaaa'), 2000)); // a worker only reports keys its supervisor sent it
  b.used('aaaaaaaaaaaa', T + 10);
  await b.close(); // flushes its batch
  assert.deepEqual(await a.lastUsed(['aaaaaaaaaaaa']), [T + 10]);
  await a.close();
});

test('Redis away: changes fail with StoreUnavailableError (503), the records already loaded stay', { skip }, async () => {
  const { a, b } = await pair();
  await a.commit({ op: 'consumer', consumer: { name: 'alice', roles: [], scopes: [], createdAt: T } });
  await srv.kill();
  await assert.rejects(a.commit({ op: 'key', key: key('aaaaaaaaaaaa') }), StoreUnavailableError);
  assert.ok(a.state.consumers.has('alice'));
  await srv.restart();
  assert.ok(await until(() => a.state.consumers.size === 0, 5000), 'an emptied Redis (restarted without persistence) is what the store then holds');
  await Promise.all([a.close(), b.close()]);
});
