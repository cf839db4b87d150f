// Consistent hashing with Maglev (Eisenbud et al., NSDI 2016): a lookup table
// of M (prime) entries filled from per-target permutations derived from the
// target's origin only, so every worker builds the same table and adding one
// target of N moves about 1/(N+1) of the keys. A key whose target is out of
// rotation walks the table to the next eligible entry (the same walk in every
// worker). Weights are not used (0 still excludes a target).
import type { RequestContext } from '../../pipeline/context.js';
import { hashKey } from '../../state/keyed-table.js';
import type { Balancer, BalancedTarget, Eligible } from './balancer.js';
import { scan } from './balancer.js';

export const MAGLEV_SIZE = 65537;

export function maglevTable(origins: readonly string[], m = MAGLEV_SIZE): Uint16Array | Uint32Array {
  const n = origins.length;
  const table = n <= 0xffff ? new Uint16Array(m) : new Uint32Array(m);
  if (n === 0) return table;
  const offset = new Array<number>(n);
  const skip = new Array<number>(n);
  const next = new Array<number>(n).fill(0);
  origins.forEach((o, i) => {
    const [a, b] = hashKey(o);
    offset[i] = a % m;
    skip[i] = ((b >>> 0) % (m - 1)) + 1;
  });
  const filled = new Uint8Array(m);
  let count = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      let c = (offset[i]! + next[i]! * skip[i]!) % m;
      while (filled[c] === 1) {
        next[i]!++;
        c = (offset[i]! + next[i]! * skip[i]!) % m;
      }
      filled[c] = 1;
      table[c] = i;
      next[i]!++;
      if (++count === m) return table;
    }
  }
}

/**
 * murmur3's finalizer. FNV-1a alone maps keys that differ in their last
 * character to an arithmetic progression of table entries (0x01000193 mod
 * 65537 = 147 apart), so structured keys (user ids, numbers, addresses)
 * spread worse than random over the targets.
 */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Reads the configured key from the request; undefined when it is absent. */
export function keyReader(hashOn: string): (ctx: RequestContext) => string | undefined {
  if (hashOn === 'ip') return (ctx) => ctx.remoteAddress || undefined;
  if (hashOn === 'path') return (ctx) => ctx.path;
  if (hashOn.startsWith('header:')) {
    const name = hashOn.slice(7);
    return (ctx) => ctx.header(name);
  }
  const cookie = hashOn.slice(7);
  return (ctx) => {
    const h = ctx.header('cookie');
    if (h === undefined) return undefined;
    for (const part of h.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === cookie) return part.slice(eq + 1).trim();
    }
    return undefined;
  };
}

export class ConsistentHash implements Balancer {
  readonly #n: number;
  readonly #table: Uint16Array | Uint32Array;
  readonly #key: (ctx: RequestContext) => string | undefined;

  constructor(targets: readonly BalancedTarget[], hashOn: string) {
    this.#n = targets.length;
    this.#table = maglevTable(targets.map((t) => t.origin));
    this.#key = keyReader(hashOn);
  }

  pick(ctx: RequestContext, ok: Eligible): number {
    if (this.#n === 0) return -1;
    const key = this.#key(ctx);
    // No key: nothing to be consistent about.
    if (key === undefined) return scan(this.#n, (Math.random() * this.#n) | 0, ok);
    const t = this.#table;
    const h = mix32(hashKey(key)[0]) % t.length;
    const first = t[h]!;
    if (ok(first)) return first;
    if (scan(this.#n, 0, ok) < 0) return -1;
    for (let k = 1; k < t.length; k++) {
      const i = t[(h + k) % t.length]!;
      if (ok(i)) return i;
    }
    return -1;
  }
}
