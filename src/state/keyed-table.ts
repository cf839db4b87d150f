// A fixed-capacity open-addressing hash table of keyed 64-bit cells in shared
// memory (rate-limit state: GCRA arrival times, window counts). Lock-free:
//
// - A cell is [tag i32, expires i32 (s since epoch), value i64]. The tag is a
//   second 32-bit hash of the key (never 0 = empty, never -1 = busy); the
//   first hash picks where linear probing starts. Two keys are confused only
//   if both hashes collide within one probe window (~2^-32 per probe).
// - Claiming an empty cell is one CAS of its tag (0 -> tag). Cells never go
//   back to empty, so every process probing for a key stops at the same first
//   free-or-stale cell, and the loser of the CAS finds the winner's key there.
// - A value changes only by CAS on the i64, so concurrent updates from any
//   number of processes are all counted exactly once.
// - A cell whose key was not touched for its ttl is stale and may be reclaimed
//   for another key: tag -> busy (CAS), recheck, value := 0, tag := new key.
//   An updater whose CAS landed in a cell that was reclaimed meanwhile sees a
//   different tag afterwards and applies its update again to the new cell.
// - A cell left busy by a process that died mid-reclaim is taken over after
//   BUSY_STEAL_MS.
// When no free or stale cell is in the probe window the table is full for that
// key: update() returns undefined and the tableFull counter goes up.
import { C_EXPIRES, C_TAG, C_WORDS, Counter, TAG_BUSY } from './layout.js';

export const MAX_PROBE = 64;
const BUSY_STEAL_MS = 200;

/** Two independent 32-bit hashes of a string (FNV-1a and a murmur3-style mix). */
export function hashKey(key: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ key.length;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  b = Math.imul(b ^ (b >>> 15), 0x85ebca6b);
  b ^= b >>> 13;
  let tag = b | 0;
  if (tag === 0 || tag === TAG_BUSY) tag = 1;
  return [a >>> 0, tag];
}

export class KeyedTable {
  readonly cells: number;
  readonly #w: Int32Array;
  readonly #v: BigInt64Array;
  readonly #counters: Int32Array;
  readonly #nowSec: () => number;
  readonly #mask: number;

  /** `offset` in bytes, 16-byte cells; `cells` is a power of two. */
  constructor(sab: SharedArrayBuffer, offset: number, cells: number, counters: Int32Array, nowSec: () => number) {
    if (cells <= 0 || (cells & (cells - 1)) !== 0) throw new RangeError('table cells must be a power of two');
    this.cells = cells;
    this.#w = new Int32Array(sab, offset, cells * C_WORDS);
    this.#v = new BigInt64Array(sab, offset, cells * 2);
    this.#counters = counters;
    this.#nowSec = nowSec;
    this.#mask = cells - 1;
  }

  /**
   * Applies `fn` to the key's value (0n for a new key) with CAS until it
   * sticks; `fn` may run more than once and must be pure. Returns the value
   * stored, or undefined when the table has no room for this key.
   */
  update(key: string, ttlSec: number, fn: (old: bigint) => bigint): bigint | undefined {
    const [h, tag] = hashKey(key);
    const w = this.#w;
    const v = this.#v;
    for (;;) {
      const cell = this.#find(h, tag, ttlSec, true);
      if (cell < 0) return undefined;
      const base = cell * C_WORDS;
      const expires = this.#nowSec() + ttlSec;
      if (w[base + C_EXPIRES] !== expires) Atomics.store(w, base + C_EXPIRES, expires);
      const vi = cell * 2 + 1;
      for (;;) {
        const old = Atomics.load(v, vi);
        const next = fn(old);
        if (next === old || Atomics.compareExchange(v, vi, old, next) === old) {
          if (this.#owned(base, tag)) return next;
          break; // the cell was reclaimed for another key under us: redo
        }
        if (Atomics.load(w, base + C_TAG) !== tag) break;
      }
    }
  }

  get(key: string): bigint | undefined {
    const [h, tag] = hashKey(key);
    const cell = this.#find(h, tag, 0, false);
    return cell < 0 ? undefined : Atomics.load(this.#v, cell * 2 + 1);
  }

  /** Seconds until the key's cell goes stale, or undefined when absent. */
  expiresIn(key: string): number | undefined {
    const [h, tag] = hashKey(key);
    const cell = this.#find(h, tag, 0, false);
    return cell < 0 ? undefined : Atomics.load(this.#w, cell * C_WORDS + C_EXPIRES) - this.#nowSec();
  }

  /** Back to the initial value (the cell stays claimed). */
  reset(key: string): boolean {
    const [h, tag] = hashKey(key);
    const cell = this.#find(h, tag, 0, false);
    if (cell < 0) return false;
    Atomics.store(this.#v, cell * 2 + 1, 0n);
    return true;
  }

  /** Cells holding a key (live or stale): for tests and the admin read-out. */
  used(): number {
    let n = 0;
    for (let i = 0; i < this.cells; i++) if (Atomics.load(this.#w, i * C_WORDS + C_TAG) !== 0) n++;
    return n;
  }

  /** Cells whose tag is this key's: 1 when the key is present once. */
  copies(key: string): number {
    const [h, tag] = hashKey(key);
    let n = 0;
    for (let p = 0; p < MAX_PROBE; p++) {
      if (Atomics.load(this.#w, ((h + p) & this.#mask) * C_WORDS + C_TAG) === tag) n++;
    }
    return n;
  }

  #owned(base: number, tag: number): boolean {
    const w = this.#w;
    let t = Atomics.load(w, base + C_TAG);
    if (t === TAG_BUSY) t = this.#waitNotBusy(base);
    return t === tag;
  }

  #waitNotBusy(base: number): number {
    const w = this.#w;
    const start = Date.now();
    for (;;) {
      const t = Atomics.load(w, base + C_TAG);
      if (t !== TAG_BUSY) return t;
      if (Date.now() - start > BUSY_STEAL_MS) {
        // The reclaimer died mid-way: finish its job as an empty cell.
        Atomics.store(this.#v, base / 2 + 1, 0n);
        Atomics.compareExchange(w, base + C_TAG, TAG_BUSY, 0);
      }
    }
  }

  /** The cell holding `tag`, claiming one when `claim`; -1 when none. */
  #find(h: number, tag: number, ttlSec: number, claim: boolean): number {
    const w = this.#w;
    const mask = this.#mask;
    const now = this.#nowSec();
    for (;;) {
      let candidate = -1;
      let candidateTag = 0;
      let p = 0;
      for (; p < MAX_PROBE; p++) {
        const cell = (h + p) & mask;
        const base = cell * C_WORDS;
        let t = Atomics.load(w, base + C_TAG);
        if (t === TAG_BUSY) t = this.#waitNotBusy(base);
        if (t === tag) return cell;
        if (t === 0) {
          if (candidate < 0) {
            candidate = cell;
            candidateTag = 0;
          }
          break; // cells never go back to empty: the key is not further on
        }
        if (candidate < 0 && Atomics.load(w, base + C_EXPIRES) - now < 0) {
          candidate = cell;
          candidateTag = t;
        }
      }
      if (!claim) return -1;
      if (candidate < 0) {
        Atomics.add(this.#counters, Counter.tableFull, 1);
        return -1;
      }
      const base = candidate * C_WORDS;
      if (candidateTag === 0) {
        // Expiry first, so nobody sees the new tag with a stale time.
        Atomics.store(w, base + C_EXPIRES, now + ttlSec);
        const seen = Atomics.compareExchange(w, base + C_TAG, 0, tag);
        if (seen === 0 || seen === tag) {
          if (seen === 0) Atomics.add(this.#counters, Counter.tableCellsUsed, 1);
          return candidate;
        }
        continue; // another key took it: probe again
      }
      // Reclaim a stale cell.
      if (Atomics.compareExchange(w, base + C_TAG, candidateTag, TAG_BUSY) !== candidateTag) continue;
      if (Atomics.load(w, base + C_EXPIRES) - this.#nowSec() >= 0) {
        Atomics.store(w, base + C_TAG, candidateTag); // its key came back meanwhile
        continue;
      }
      Atomics.store(this.#v, candidate * 2 + 1, 0n);
      Atomics.store(w, base + C_EXPIRES, now + ttlSec);
      Atomics.store(w, base + C_TAG, tag);
      Atomics.add(this.#counters, Counter.tableReclaimed, 1);
      return candidate;
    }
  }
}
