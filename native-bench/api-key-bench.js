#!/usr/bin/env node
// ns/op of an API-key check in a worker's table (src/filters/auth/api-key/table.ts):
// one HMAC-SHA256 and one Map probe, for a hit, an unknown key, and tables of
// 1 and 100,000 keys (the probe does not grow with the table).
//   node native-bench/api-key-bench.js        (the build in dist/; median of 5 rounds)
import { KeyTable } from '../dist/src/filters/auth/api-key/table.js';
import { hashKey, newKey, readSecret } from '../dist/src/filters/auth/api-key/keys.js';

const ROUNDS = 5;
const N = 300_000;
const secret = readSecret({ hashSecretEnv: 'S' }, { S: 'bench-secret-'.repeat(4) });

function table(size) {
  const t = new KeyTable(secret);
  const keys = Array.from({ length: size }, () => newKey('wk_live_'));
  t.receive({
    t: 'all',
    consumers: [{ name: 'bench', roles: ['r'], scopes: ['s'] }],
    keys: keys.map((k) => ({ id: k.id, consumer: 'bench', hash: hashKey(secret, k.key), expiresAt: null })),
  });
  return { t, key: keys[0].key };
}

const median = (v) => v.sort((a, b) => a - b)[v.length >> 1];
const cases = {};
for (const size of [1, 100_000]) {
  const { t, key } = table(size);
  // Fresh strings, as a listener hands header values over.
  const hits = Array.from({ length: 1024 }, () => Buffer.from(key).toString('latin1'));
  const misses = Array.from({ length: 1024 }, () => newKey('wk_live_').key);
  for (const [name, pool] of [[`hit, ${size} keys`, hits], [`unknown key, ${size} keys`, misses]]) {
    const runs = [];
    for (let r = 0; r < ROUNDS; r++) {
      const now = Date.now();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) t.check(pool[i & 1023], now);
      runs.push(Number(process.hrtime.bigint() - t0) / N);
    }
    cases[name] = median(runs);
  }
}
for (const [name, ns] of Object.entries(cases)) console.log(`${name.padEnd(24)} ${ns.toFixed(0)} ns/op`);
