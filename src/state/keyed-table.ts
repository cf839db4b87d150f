// A fixed-capacity open-addressing hash table of keyed 64-bit cells in shared
// memory (rate-limit state: GCRA arrival times, window counts). Lock-free:
//
// - A cell is [tag i32, expires i32 (s since epoch), value i64]. The tag is a
//   second 32-bit hash of the key (never 0 = empty, -1 = busy, -2 = dead); the
//   first hash picks where linear probing starts. Two keys are confused only
//   if both hashes collide within one probe window (~2^-32 per probe).
// - A key goes into the first empty or stale cell of its probe window, and
//   only when the probe went on to the first empty cell without meeting the
//   key. Claiming is: tag -> busy (CAS), check that the clock still shows the
//   second the probe ran in (and, for a stale cell, that it is still stale),
//   value := 0, expires, tag -> key (CAS). Cells never go back to empty (a busy
//   one only returns to what it was), so probes for one key agree on where it
//   goes; the same-second check covers the one thing they can disagree on,
//   staleness, which changes with the clock: a process that probes in a later
//   second runs into our busy cell (or our key) and waits for it.
// - A value changes only by CAS on the i64, so concurrent updates from any
//   number of processes are all counted exactly once.
// - A cell whose key was not touched for its ttl is stale and may be reclaimed
//   for another key. An updater first refreshes the expiry, then checks that
//   the cell is still its key's, and only then reads the value: a reclaimer
//   that came first shows as another tag (redo), one that comes later sees
//   the fresh expiry and backs off. So an update never lands in another key's
//   cell.
// - A cell left busy for BUSY_STEAL_MS (its claimer died or stalled) becomes
//   dead: non-empty and stale, so probes go past it and any key may reclaim it.
// When no free or stale cell is in the probe window the table is full for that
// key: update() returns undefined and the tableFull counter goes up.
import { C_EXPIRES, C_TAG, C_WORDS, Counter, TAG_BUSY, TAG_DEAD } from './layout.js';

export const MAX_PROBE = 64;
const BUSY_STEAL_MS = 200;

/** Two independent 32-bit hashes of a string (FNV-1a and a murmur3-style mix). */
export function hashKey(key: string, suffix = ''): [number, number] {
  hashInto(key, suffix);
  return [hashH, hashTag];
}

// Results of hashInto: module fields, so the hot path allocates no pair.
let hashH = 0;
let hashTag = 0;

/**
 * The hashes of `key + suffix` without building that string: a concatenation
 * is a cons string that charCodeAt would flatten (a copy) on every request.
 */
function hashInto(key: string, suffix: string): void {
  let a = 0x811c9dc5;
  let b = 0x9747b28c ^ (key.length + suffix.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  for (let i = 0; i < suffix.length; i++) {
    const c = suffix.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  b = Math.imul(b ^ (b >>> 15), 0x85ebca6b);
  b ^= b >>> 13;
  let tag = b | 0;
  if (tag === 0 || tag === TAG_BUSY || tag === TAG_DEAD) tag = 1;
  hashH = a >>> 0;
  hashTag = tag;
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
   * stored, or undefined when the table has no room for this key. The key is
   * `key + suffix` (the hot path passes a fixed prefix and a per-request part).
   */
  update(key: string, ttlSec: number, fn: (old: bigint) => bigint, suffix = ''): bigint | undefined {
    hashInto(key, suffix);
    const h = hashH;
    const tag = hashTag;
    const w = this.#w;
    const v = this.#v;
    for (;;) {
      const cell = this.#find(h, tag, ttlSec, true);
      if (cell < 0) return undefined;
      const base = cell * C_WORDS;
      const expires = this.#nowSec() + ttlSec;
      if (w[base + C_EXPIRES] !== expires) Atomics.store(w, base + C_EXPIRES, expires);
      // Fresh expiry first, then ownership: from here on no reclaimer can take
      // the cell, so the value read below is this key's (see the top).
      if (!this.#owned(base, tag)) continue;
      const vi = cell * 2 + 1;
      for (;;) {
        const old = Atomics.load(v, vi);
        const next = fn(old);
        if (next === old || Atomics.compareExchange(v, vi, old, next) === old) {
          if (this.#owned(base, tag)) return next;
          break; // reclaimed under us after all (a stall longer than the ttl): redo
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
        // Its claimer died (or stalled) mid-way. Not back to empty: probes
        // may already have gone past it. Dead is stale, so it gets reused.
        Atomics.compareExchange(w, base + C_TAG, TAG_BUSY, TAG_DEAD);
      }
    }
  }

  /** The cell holding `tag`, claiming one when `claim`; -1 when none. */
  #find(h: number, tag: number, ttlSec: number, claim: boolean): number {
    const w = this.#w;
    const mask = this.#mask;
    for (;;) {
      const now = this.#nowSec();
      let candidate = -1;
      let candidateTag = 0;
      for (let p = 0; p < MAX_PROBE; p++) {
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
        if (candidate < 0 && (t === TAG_DEAD || Atomics.load(w, base + C_EXPIRES) - now < 0)) {
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
      if (Atomics.compareExchange(w, base + C_TAG, candidateTag, TAG_BUSY) !== candidateTag) continue;
      const stale = candidateTag === 0 || candidateTag === TAG_DEAD || Atomics.load(w, base + C_EXPIRES) - now < 0;
      if (!stale || this.#nowSec() !== now) {
        // Its key came back, or the second turned since the probe: as it was, probe again.
        Atomics.compareExchange(w, base + C_TAG, TAG_BUSY, candidateTag);
        continue;
      }
      Atomics.store(this.#v, candidate * 2 + 1, 0n);
      Atomics.store(w, base + C_EXPIRES, now + ttlSec);
      if (Atomics.compareExchange(w, base + C_TAG, TAG_BUSY, tag) !== TAG_BUSY) continue; // declared dead meanwhile
      Atomics.add(this.#counters, candidateTag === 0 ? Counter.tableCellsUsed : Counter.tableReclaimed, 1);
      return candidate;
    }
  }
}
