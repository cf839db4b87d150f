#!/usr/bin/env node
// What a JWT costs a worker, in one process: jose's jwtVerify (ES256, a new
// verification every call: what an uncached token pays) against the jwt
// method's cached path (SHA-256 of the token and a Map lookup: what a token
// seen before pays). Needs a build (npm run build).
//
//   node native-bench/jwt-verify-bench.js            # BENCH_N=20000 calls each (default)
import { performance } from 'node:perf_hooks';
import { SignJWT, exportSPKI, generateKeyPair, jwtVerify, importSPKI } from 'jose';
import { JwtService } from '../dist/src/filters/auth/jwt/service.js';

const N = Number(process.env.BENCH_N || '20000');
const { publicKey, privateKey } = await generateKeyPair('ES256');
const spki = await exportSPKI(publicKey);
const sign = (sub) => new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('bench').setAudience('bench').setExpirationTime('1h').sign(privateKey);
const token = await sign('bench');
const key = await importSPKI(spki, 'ES256');
const opts = { algorithms: ['ES256'], issuer: 'bench', audience: 'bench' };

async function timed(label, n, fn, { warm = true, sync = false } = {}) {
  if (warm) for (let i = 0; i < Math.min(1000, n); i++) await fn(i);
  const t0 = performance.now();
  if (sync) for (let i = 0; i < n; i++) fn(i);
  else for (let i = 0; i < n; i++) await fn(i);
  const us = ((performance.now() - t0) * 1000) / n;
  console.log(`${label.padEnd(58)} ${us.toFixed(2).padStart(8)} us/op  (${Math.round(1e6 / us)} ops/s, n=${n})`);
  return us;
}

// Sequential calls: the cost per verification on one core, not a throughput under concurrency.
const verify = await timed('jose jwtVerify ES256 (same token, no cache)', N, () => jwtVerify(token, key, opts));

const svc = new JwtService(
  { providers: { bench: { issuer: 'bench', audiences: ['bench'], algorithms: ['ES256'], keys: [{ kid: 'k1', pem: spki }] } } },
  undefined,
  { configDir: '.', send() {}, onMessage() {} },
);
const provider = svc.providers.get('bench');
await provider.check(token); // verified once, cached from here on
let promises = 0;
const cached = await timed('jwt method, cached token (sha256 + lookup, synchronous)', N * 10, () => {
  const r = provider.check(token);
  if (r instanceof Promise) promises++;
}, { sync: true });
if (promises > 0) throw new Error('a cached check returned a Promise');
// Distinct tokens: each is a miss, verified and then cached (the cost of a first sighting).
const fresh = await Promise.all(Array.from({ length: Math.min(N, 5000) }, (_, i) => sign(`u${i}`)));
const miss = await timed('jwt method, new token (verify + identity + cache insert)', fresh.length, (i) => provider.check(fresh[i]), { warm: false });
svc.close();
console.log(`\ncached / uncached: ${(cached / verify).toFixed(4)} (a cached token costs ${((cached / verify) * 100).toFixed(2)}% of a verification)`);
console.log(`method overhead on a miss over bare jwtVerify: ${(miss - verify).toFixed(2)} us`);
