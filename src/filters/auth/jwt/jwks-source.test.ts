// The supervisor's JWKS fetcher against a real server on loopback: the TTL
// from Cache-Control clamped to [min, max], the refetch cooldown, and the
// last good set kept (stale) when the endpoint fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { JwksSource } from './jwks-source.js';
import { signingKey, startJwksServer } from '../../../../test/helpers/jwt.js';

const log = pino({ level: 'silent' });

test('TTL: max-age clamped to [minTtl, maxTtl], 300 s when absent; the refetch cooldown; stale keeps the last good set', async () => {
  const server = await startJwksServer();
  const key = await signingKey('ES256', 'a');
  const sets: unknown[][] = [];
  try {
    const cases: [string | undefined, number][] = [
      ['max-age=5', 60],
      ['public, max-age=100000', 3600],
      [undefined, 300],
      ['max-age=120', 120],
    ];
    for (const [cc, want] of cases) {
      server.set('/k', [key.jwk], cc);
      const s = new JwksSource('p', server.url('/k'), { minTtlSeconds: 60, maxTtlSeconds: 3600 }, log, (keys) => sets.push(keys));
      await s.fetch();
      assert.equal(s.nextFetchSeconds, want, `Cache-Control ${cc}`);
      s.close();
    }
    assert.equal(sets.length, 4);

    const s = new JwksSource('p', server.url('/k'), { cooldownSeconds: 30 }, log, () => {});
    await s.fetch();
    const hits = server.hits('/k');
    await s.refetch(Date.now());
    await s.refetch(Date.now());
    await s.refetch(Date.now());
    assert.equal(server.hits('/k') - hits, 1, 'one refetch per cooldown');
    assert.deepEqual([s.refetches, s.refetchesRefused], [1, 2]);

    server.fail('/k', true);
    await s.fetch();
    assert.equal(s.stale, true);
    assert.equal(s.keys?.length, 1, 'the last good set stays');
    assert.equal(s.nextFetchSeconds, 1, 'retried soon (1, 2, 4 ... 60 s)');
    server.fail('/k', false);
    await s.fetch();
    assert.equal(s.stale, false);
    s.close();
  } finally {
    await server.close();
  }
});

test('a response that is not a usable JWKS is a failed fetch, never an empty set', async () => {
  const server = await startJwksServer();
  try {
    server.set('/empty', []);
    const s = new JwksSource('p', server.url('/empty'), {}, log, () => assert.fail('no set may be announced'));
    await s.fetch();
    assert.equal(s.keys, null);
    assert.equal(s.stale, true);
    s.close();
  } finally {
    await server.close();
  }
});
