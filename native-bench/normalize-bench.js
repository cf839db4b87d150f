#!/usr/bin/env node
// ns/op of normalizePath (src/routing/normalize.ts), which runs on every request.
//   node native-bench/normalize-bench.js [module.js ...]   (default: the build in dist/)
// Give two builds (e.g. an older normalize.js) to compare them. Each module is
// measured in its own process, rounds interleaved, and the median is reported.
// Paths are fresh strings each call site, as a listener hands them over.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const PATHS = ['/api/users/123/orders', '/', '/api/v1/products/abc-def_123/reviews', '/api/%66oo/../bar', '/caf%c3%a9/a%20b'];
const ROUNDS = 7;
const N = 5_000_000;

if (process.argv[2] === '--child') {
  const { normalizePath } = await import(process.argv[3]);
  const out = {};
  let sink = 0;
  for (const p of PATHS) {
    const pool = Array.from({ length: 1024 }, () => Buffer.from(p).toString('latin1'));
    for (let i = 0; i < N / 10; i++) sink += normalizePath(pool[i & 1023]).length; // warm-up
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += normalizePath(pool[i & 1023]).length;
    out[p] = Number(process.hrtime.bigint() - t) / N;
  }
  if (sink === 0) throw new Error('unreachable');
  console.log(JSON.stringify(out));
} else {
  const mods = process.argv.slice(2);
  if (mods.length === 0) mods.push('dist/src/routing/normalize.js');
  const urls = mods.map((m) => pathToFileURL(resolve(m)).href);
  const runs = urls.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < urls.length; k++) {
      const i = (k + r) % urls.length; // rotate the order: drift spreads over every module
      const c = spawnSync(process.execPath, [new URL(import.meta.url).pathname, '--child', urls[i]], { encoding: 'utf8' });
      if (c.status !== 0) throw new Error(c.stderr);
      runs[i].push(JSON.parse(c.stdout));
    }
  }
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  console.log(['path'.padEnd(40), ...mods.map((m) => m.slice(-30).padStart(32))].join(''));
  for (const p of PATHS) console.log([p.padEnd(40), ...runs.map((rs) => `${median(rs.map((x) => x[p])).toFixed(1)} ns`.padStart(32))].join(''));
}
