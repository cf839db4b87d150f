// The byte layout of a Wicket state segment: one POSIX shared-memory object
// per gateway instance, created and sized by the supervisor, mapped by every
// worker. Every field is a 32-bit word (Int32Array) unless noted; times are
// milliseconds since the segment's epoch (header), compared with wrapping
// 32-bit arithmetic, so deltas are right for 24 days between touches.
//
// offset        size                      what
// 0             64                        header
// 64            COUNTERS*4 (256)          gateway-wide counters (Counter)
// targetsOff    targetsCap*64             one 64-byte line per target (T_*)
// workersOff    workerSlots*targetsCap*8  per worker, per target: active, retrying
// upstreamsOff  upstreamsCap*64           one 64-byte line per upstream (U_*)
// tableOff      tableCells*16             keyed cells: tag i32, expires i32 (s), value i64
//
// A layout change bumps LAYOUT_VERSION: a segment of another version is never
// read, it is recreated.

export const MAGIC = 0x574b5453; // 'WKTS'
export const LAYOUT_VERSION = 1;

// Header words.
export const H_MAGIC = 0;
export const H_VERSION = 1;
export const H_OWNER_PID = 2;
/** 0 while the supervisor initialises the segment, 1 once it may be used. */
export const H_READY = 3;
export const H_TARGETS = 4;
export const H_UPSTREAMS = 5;
export const H_WORKER_SLOTS = 6;
export const H_TABLE_CELLS = 7;
/** Float64 index (byte 40): total bytes. */
export const H_F64_BYTES = 5;
/** Float64 index (byte 48): epoch, Date.now() at creation. */
export const H_F64_EPOCH = 6;

export const HEADER_BYTES = 64;
export const COUNTERS = 64;

/** Gateway-wide counters (word index in the counters block). */
export const Counter = {
  requests: 0,
  retries: 1,
  retriesDeniedByBudget: 2,
  circuitOpened: 3,
  circuitRejected: 4,
  ejections: 5,
  tableFull: 6,
  tableCellsUsed: 7,
  tableReclaimed: 8,
  noTarget: 9,
} as const;
export type CounterName = keyof typeof Counter;

// Target line (16 words).
export const T_WORDS = 16;
export const T_ACTIVE = 0;
export const T_FLAGS = 1;
export const T_CONSEC_FAILS = 2;
export const T_EJECTIONS = 3;
export const T_EWMA_US = 4;
export const T_EWMA_STAMP = 5;
export const T_RETRYING = 6;
export const T_REQUESTS = 7;
export const T_FAILURES = 8;
/** Float64 index within the line (bytes 48..55): ejected until (ms since epoch). */
export const T_F64_EJECT_UNTIL = 6;

/** Target flag bits: any of them takes the target out of rotation. */
export const F_CHECK_DOWN = 1; // the supervisor's active health check failed
export const F_ADMIN_DOWN = 2; // an operator marked it down (admin API)
export const F_EJECTED = 4; // passive outlier detection, until T_F64_EJECT_UNTIL
export const F_UNHEALTHY = F_CHECK_DOWN | F_ADMIN_DOWN | F_EJECTED;

// Per-worker columns: [active, retrying] per target, so a dead worker's
// in-flight counts can be taken back out of the shared totals.
export const W_WORDS = 2;
export const W_ACTIVE = 0;
export const W_RETRYING = 1;

// Upstream line (16 words): round-robin cursor and circuit breaker.
export const U_WORDS = 16;
export const U_CURSOR = 0;
export const U_BREAKER = 1; // BreakerState
export const U_OPENED_AT = 2;
export const U_WINDOW_START = 3;
export const U_WINDOW_REQUESTS = 4;
export const U_WINDOW_FAILURES = 5;
export const U_CONSEC_FAILS = 6;
export const U_TRIALS = 7; // half-open trial requests admitted
export const U_TRIAL_OKS = 8;
export const U_OPENS = 9;

export const BREAKER_CLOSED = 0;
export const BREAKER_OPEN = 1;
export const BREAKER_HALF_OPEN = 2;

// Keyed table cell (16 bytes = 4 words): tag, expires (s since epoch), value (BigInt64 at word 2).
export const C_WORDS = 4;
export const C_TAG = 0;
export const C_EXPIRES = 1;
/** Tag of a cell being claimed or reclaimed for a key. */
export const TAG_BUSY = -1;
/** Tag of a cell whose claimer stalled or died while it was busy: stale, free to reclaim. */
export const TAG_DEAD = -2;

export interface Capacity {
  targets: number;
  upstreams: number;
  workerSlots: number;
  /** Power of two. */
  tableCells: number;
}

export interface Offsets extends Capacity {
  counters: number;
  targetsOff: number;
  workersOff: number;
  upstreamsOff: number;
  tableOff: number;
  bytes: number;
}

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

export function offsets(c: Capacity): Offsets {
  const counters = HEADER_BYTES;
  const targetsOff = align(counters + COUNTERS * 4, 64);
  const workersOff = align(targetsOff + c.targets * T_WORDS * 4, 64);
  const upstreamsOff = align(workersOff + c.workerSlots * c.targets * W_WORDS * 4, 64);
  const tableOff = align(upstreamsOff + c.upstreams * U_WORDS * 4, 64);
  const bytes = align(tableOff + c.tableCells * C_WORDS * 4, 4096);
  return { ...c, counters, targetsOff, workersOff, upstreamsOff, tableOff, bytes };
}
