// The three limit algorithms as pure functions of (stored 64-bit state, now,
// cost): the local tier runs them inside a compare-and-swap on a shared-memory
// cell, so each take is atomic across workers. Denied requests never change
// the state. The Redis tier's Lua scripts implement the same arithmetic.
//
// State encodings (BigInt64, 0n = fresh):
//   gcra            theoretical arrival time, microseconds since the Unix epoch
//   fixed-window    window id (32 bits, mod 2^32) << 32 | count
//   sliding-window  window id (16 bits, mod 2^16) << 48 | current count << 24 | previous count
// Windows are aligned to Unix time (floor(now / windowMs)), the same on every
// machine and in Redis.

/** What the local tier runs: each fits one 64-bit cell. */
export type Algorithm = 'gcra' | 'fixed-window' | 'sliding-window';

/**
 * The exact sliding log keeps one timestamp per admitted unit: it cannot live
 * in a 64-bit cell, so it exists only on the Redis tier (config refuses it
 * locally). While Redis is away its local fallback is the sliding window.
 */
export function localAlgorithm(a: Algorithm | 'sliding-log'): Algorithm {
  return a === 'sliding-log' ? 'sliding-window' : a;
}

export interface LimitSpec {
  readonly algorithm: Algorithm;
  readonly limit: number;
  readonly windowMs: number;
  /** gcra: units that may be spent at once. */
  readonly burst: number;
}

export interface Decision {
  allowed: boolean;
  /** Units left after this request. */
  remaining: number;
  /** ms until the quota is whole again (gcra) or the window ends. */
  resetMs: number;
  /** ms until this request would be admitted; 0 when it was. */
  retryAfterMs: number;
}

/** The most units one request can ever be admitted for: gcra's burst, a window's limit. */
export function maxCost(spec: LimitSpec): number {
  return spec.algorithm === 'gcra' ? spec.burst : spec.limit;
}

/** Where `take` leaves its verdict (one object per call site, reused). */
export interface Verdict extends Decision {}

const MASK24 = 0xffffff;

export function take(spec: LimitSpec, old: bigint, nowMs: number, cost: number, out: Verdict): bigint {
  switch (spec.algorithm) {
    case 'gcra':
      return gcra(spec, old, nowMs, cost, out);
    case 'fixed-window':
      return fixedWindow(spec, old, nowMs, cost, out);
    case 'sliding-window':
      return slidingWindow(spec, old, nowMs, cost, out);
  }
}

function gcra(spec: LimitSpec, old: bigint, nowMs: number, cost: number, out: Verdict): bigint {
  const now = Math.floor(nowMs * 1000); // µs
  // Whole microseconds per unit, rounded up (as the Redis script computes it).
  const t = Math.max(1, Math.ceil((spec.windowMs * 1000) / spec.limit - 1e-9));
  const capacity = spec.burst * t;
  const stored = Number(old);
  const tat = stored > now ? stored : now;
  const next = tat + cost * t;
  if (next - now > capacity) {
    out.allowed = false;
    out.retryAfterMs = Math.ceil((next - now - capacity) / 1000);
    out.remaining = Math.max(0, Math.floor((capacity - (tat - now)) / t));
    out.resetMs = Math.ceil((tat - now) / 1000);
    return old;
  }
  out.allowed = true;
  out.retryAfterMs = 0;
  out.remaining = Math.max(0, Math.floor((capacity - (next - now)) / t));
  out.resetMs = Math.ceil((next - now) / 1000);
  return BigInt(next);
}

function fixedWindow(spec: LimitSpec, old: bigint, nowMs: number, cost: number, out: Verdict): bigint {
  const w = spec.windowMs;
  const id = Math.floor(nowMs / w);
  const id32 = id >>> 0;
  const storedId = Number(old >> 32n) >>> 0;
  const count = storedId === id32 ? Number(old & 0xffffffffn) : 0;
  const end = (id + 1) * w - nowMs;
  out.resetMs = Math.ceil(end);
  if (count + cost > spec.limit) {
    out.allowed = false;
    out.remaining = Math.max(0, spec.limit - count);
    out.retryAfterMs = Math.ceil(end);
    return old;
  }
  out.allowed = true;
  out.remaining = spec.limit - count - cost;
  out.retryAfterMs = 0;
  return (BigInt(id32) << 32n) | BigInt(count + cost);
}

function slidingWindow(spec: LimitSpec, old: bigint, nowMs: number, cost: number, out: Verdict): bigint {
  const w = spec.windowMs;
  const id = Math.floor(nowMs / w);
  const id16 = id & 0xffff;
  const storedId = Number((old >> 48n) & 0xffffn);
  let cur = Number((old >> 24n) & BigInt(MASK24));
  let prev = Number(old & BigInt(MASK24));
  if (old === 0n || storedId !== id16) {
    // One window on: the current count becomes the previous one; further: both gone.
    prev = old !== 0n && ((id16 - storedId) & 0xffff) === 1 ? cur : 0;
    cur = 0;
  }
  // In integers (scaled by w), as the Redis script does: prev weighs (w - elapsed)/w.
  const elapsed = nowMs - id * w;
  const used = prev * (w - elapsed) + cur * w;
  const quota = spec.limit * w;
  out.resetMs = Math.ceil(w - elapsed);
  if (used + cost * w > quota) {
    out.allowed = false;
    out.remaining = Math.max(0, Math.floor((quota - used) / w));
    if (prev > 0 && cur + cost <= spec.limit) {
      out.retryAfterMs = Math.max(1, Math.ceil(Math.max(0, w * (prev - (spec.limit - cur - cost)) - elapsed * prev) / prev));
    } else out.retryAfterMs = Math.ceil(w - elapsed);
    return old;
  }
  out.allowed = true;
  out.remaining = Math.max(0, Math.floor((quota - used - cost * w) / w));
  out.retryAfterMs = 0;
  return (BigInt(id16) << 48n) | (BigInt(Math.min(cur + cost, MASK24)) << 24n) | BigInt(prev);
}

/**
 * Gives back `cost` units a take admitted (a later limit of the same request
 * said no). Same arithmetic as the Redis script's refund: gcra moves the
 * arrival time back (never before now); the windows take the units off the
 * stored current count while that window still counts (fixed: it is the
 * current window; sliding: the current or the one before). A refund never
 * goes below zero, so one racing a window change can only give back less.
 */
export function refund(spec: LimitSpec, old: bigint, nowMs: number, cost: number): bigint {
  if (old === 0n) return old;
  const w = spec.windowMs;
  const id = Math.floor(nowMs / w);
  switch (spec.algorithm) {
    case 'gcra': {
      const now = Math.floor(nowMs * 1000);
      const t = Math.max(1, Math.ceil((w * 1000) / spec.limit - 1e-9));
      const tat = Number(old) - cost * t;
      return BigInt(tat > now ? tat : now);
    }
    case 'fixed-window': {
      if (Number(old >> 32n) >>> 0 !== id >>> 0) return old;
      const count = Number(old & 0xffffffffn);
      return (old >> 32n << 32n) | BigInt(Math.max(0, count - cost));
    }
    case 'sliding-window': {
      const age = (((id & 0xffff) - Number((old >> 48n) & 0xffffn)) & 0xffff);
      if (age > 1) return old;
      const cur = Number((old >> 24n) & BigInt(MASK24));
      return (old & ~(BigInt(MASK24) << 24n)) | (BigInt(Math.max(0, cur - cost)) << 24n);
    }
  }
}

/** Seconds a key's cell must live: long enough to carry the state forward. */
export function ttlSeconds(spec: LimitSpec): number {
  const ms = spec.algorithm === 'gcra' ? (spec.windowMs * spec.burst) / spec.limit : spec.algorithm === 'sliding-window' ? 2 * spec.windowMs : spec.windowMs;
  return Math.ceil(ms / 1000) + 1;
}

/** A stored state in words, for the admin read-out. */
export function describeState(spec: LimitSpec, v: bigint, nowMs: number): Record<string, number> {
  switch (spec.algorithm) {
    case 'gcra': {
      const tatMs = Number(v) / 1000;
      return { theoreticalArrivalInMs: Math.max(0, Math.round(tatMs - nowMs)) };
    }
    case 'fixed-window': {
      const current = (Math.floor(nowMs / spec.windowMs) >>> 0) === Number(v >> 32n) >>> 0;
      return { count: current ? Number(v & 0xffffffffn) : 0 };
    }
    case 'sliding-window':
      return { windowId16: Number((v >> 48n) & 0xffffn), current: Number((v >> 24n) & BigInt(MASK24)), previous: Number(v & BigInt(MASK24)) };
  }
}
