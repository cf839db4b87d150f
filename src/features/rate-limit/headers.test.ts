// The RateLimit / RateLimit-Policy values against the Structured Fields
// grammar (RFC 9651) the draft (draft-ietf-httpapi-ratelimit-headers -08 and
// later) prescribes: a List of String items with Integer parameters; q and w
// on policies, r and t on the current state. Plus legacy X-RateLimit-*.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy, parseRateLimit, parseStringList, SfError } from '../../../test/helpers/structured-fields.js';
import type { Decision } from './algorithms.js';
import { policyValue, rateLimitHeaders, type PolicyInfo } from './headers.js';

const d = (remaining: number, resetMs: number, allowed = true, retryAfterMs = 0): Decision => ({ allowed, remaining, resetMs, retryAfterMs });

/** Flat [name, value, ...] -> record; no name twice. */
function asRecord(flat: string[]): Record<string, string> {
  assert.equal(flat.length % 2, 0);
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    assert.equal(flat[i], flat[i]!.toLowerCase(), 'names in lower case');
    assert.ok(!(flat[i]! in out), `${flat[i]} once`);
    out[flat[i]!] = flat[i + 1]!;
  }
  return out;
}

describe('the test parser itself', () => {
  test('accepts the draft examples', () => {
    assert.deepEqual([...parsePolicy('"burst";q=100;w=60,"daily";q=1000;w=86400')], [
      ['burst', { q: 100, w: 60 }],
      ['daily', { q: 1000, w: 86400 }],
    ]);
    assert.deepEqual([...parseRateLimit('"default";r=50;t=30')], [['default', { r: 50, t: 30 }]]);
    assert.deepEqual(parseStringList('"a\\"b\\\\c";x;y=1, \t"d"')[0]!.value, 'a"b\\c');
  });

  test('rejects what is not an sf-list of sf-strings with integer parameters', () => {
    const bad = [
      '', ' "a";q=1;w=1', '"a";q=1;w=1 ', '"a";q=1;w=1,', '"a";q=1;w=1,,"b";q=1;w=1', 'a;q=1;w=1', '10;w=1',
      '("a");q=1;w=1', '"a";Q=1;w=1', '"a";q=1.5;w=1', '"a";q=01;w=1', '"a";q=1234567890123456;w=1', '"a";q="1";w=1',
      '"a";q=1;q=2;w=1', '"a"q=1', '"a";q=1;w=1;', '"\\x"', '"unterminated', '"tab\there";q=1;w=1', '"é";q=1;w=1',
    ];
    for (const v of bad) assert.throws(() => parsePolicy(v), SfError, JSON.stringify(v));
    // Well-formed but not a usable policy / state.
    for (const v of ['"a";w=1', '"a";q=1', '"a";q=0;w=1', '"a";q=-1;w=1', '"a";q;w=1', '"a";q=1;w=1, "a";q=2;w=1']) {
      assert.throws(() => parsePolicy(v), SfError, v);
    }
    for (const v of ['"a";t=1', '"a";r=1', '"a";r=-1;t=1']) assert.throws(() => parseRateLimit(v), SfError, v);
  });
});

describe('policyValue', () => {
  test('one policy', () => {
    const v = policyValue([{ name: 'per-second', limit: 10, windowMs: 1000 }]);
    assert.equal(v, '"per-second";q=10;w=1');
    assert.deepEqual([...parsePolicy(v)], [['per-second', { q: 10, w: 1 }]]);
  });

  test('several policies, windows rounded up to whole seconds (at least 1)', () => {
    const policies: PolicyInfo[] = [
      { name: 'sec', limit: 10, windowMs: 1000 },
      { name: 'hourly', limit: 1000, windowMs: 3_600_000 },
      { name: 'odd.name_1', limit: 16_000_000, windowMs: 1500 },
      { name: 'tiny', limit: 1, windowMs: 1 },
    ];
    const p = parsePolicy(policyValue(policies));
    assert.deepEqual([...p], [
      ['sec', { q: 10, w: 1 }],
      ['hourly', { q: 1000, w: 3600 }],
      ['odd.name_1', { q: 16_000_000, w: 2 }],
      ['tiny', { q: 1, w: 1 }],
    ]);
  });

  test('a name that needs escaping stays a valid sf-string', () => {
    const v = policyValue([{ name: 'a"b\\c', limit: 1, windowMs: 1000 }]);
    assert.deepEqual([...parsePolicy(v)], [['a"b\\c', { q: 1, w: 1 }]]);
  });
});

describe('rateLimitHeaders', () => {
  const policies: PolicyInfo[] = [
    { name: 'sec', limit: 10, windowMs: 1000 },
    { name: 'min', limit: 100, windowMs: 60_000 },
  ];
  const policy = policyValue(policies);

  test('draft: RateLimit-Policy and RateLimit, r and t per decision', () => {
    const h = asRecord(rateLimitHeaders('draft', policies, policy, [d(7, 300), d(93, 41_001)]));
    assert.deepEqual(Object.keys(h).sort(), ['ratelimit', 'ratelimit-policy']);
    assert.deepEqual([...parsePolicy(h['ratelimit-policy']!)], [['sec', { q: 10, w: 1 }], ['min', { q: 100, w: 60 }]]);
    // t: whole seconds, rounded up (300 ms -> 1, 41.001 s -> 42).
    assert.deepEqual([...parseRateLimit(h['ratelimit']!)], [['sec', { r: 7, t: 1 }], ['min', { r: 93, t: 42 }]]);
  });

  test('a denial: the limits checked so far, remaining 0, t never negative', () => {
    const h = asRecord(rateLimitHeaders('draft', policies, policy, [d(0, 0, false, 100)]));
    assert.deepEqual([...parseRateLimit(h['ratelimit']!)], [['sec', { r: 0, t: 0 }]]);
    assert.equal(parsePolicy(h['ratelimit-policy']!).size, 2, 'the policy lists every limit of the route');
    const neg = asRecord(rateLimitHeaders('draft', policies, policy, [d(0, -5, false, 1)]));
    assert.deepEqual([...parseRateLimit(neg['ratelimit']!)], [['sec', { r: 0, t: 0 }]]);
  });

  test('legacy: X-RateLimit-* of the most restrictive limit (least remaining)', () => {
    let h = asRecord(rateLimitHeaders('legacy', policies, policy, [d(7, 300), d(3, 41_001)]));
    assert.deepEqual(h, { 'x-ratelimit-limit': '100', 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '42' });
    h = asRecord(rateLimitHeaders('legacy', policies, policy, [d(2, 900), d(50, 30_000)]));
    assert.deepEqual(h, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '2', 'x-ratelimit-reset': '1' });
    // A tie: the first.
    h = asRecord(rateLimitHeaders('legacy', policies, policy, [d(0, 500, false, 500)]));
    assert.deepEqual(h, { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    for (const v of Object.values(h)) assert.match(v, /^(0|[1-9][0-9]*)$/);
  });

  test('both: draft and legacy together', () => {
    const h = asRecord(rateLimitHeaders('both', policies, policy, [d(7, 300), d(93, 41_001)]));
    assert.deepEqual(Object.keys(h).sort(), ['ratelimit', 'ratelimit-policy', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']);
    assert.equal(parseRateLimit(h['ratelimit']!).size, 2);
    assert.equal(h['x-ratelimit-remaining'], '7');
  });

  test('none, or no decision (every limit exempt): no headers', () => {
    assert.deepEqual(rateLimitHeaders('none', policies, policy, [d(7, 300)]), []);
    for (const mode of ['draft', 'legacy', 'both'] as const) assert.deepEqual(rateLimitHeaders(mode, policies, policy, []), []);
  });
});
