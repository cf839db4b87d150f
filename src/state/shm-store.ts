// StateStore over a shared-memory segment (layout.ts). Every process maps the
// same bytes; each operation is one or a few Atomics on them, so all workers
// see one set of numbers. Nothing here allocates on the hot path.
import { KeyedTable } from './keyed-table.js';
import {
  BREAKER_CLOSED,
  BREAKER_HALF_OPEN,
  BREAKER_OPEN,
  COUNTERS,
  Counter,
  F_ADMIN_DOWN,
  F_CHECK_DOWN,
  F_EJECTED,
  T_ACTIVE,
  T_CONSEC_FAILS,
  T_EJECTIONS,
  T_EWMA_STAMP,
  T_EWMA_US,
  T_F64_EJECT_UNTIL,
  T_FAILURES,
  T_FLAGS,
  T_REQUESTS,
  T_RETRYING,
  T_WORDS,
  U_BREAKER,
  U_CONSEC_FAILS,
  U_CURSOR,
  U_OPENED_AT,
  U_OPENS,
  U_TRIAL_OKS,
  U_TRIALS,
  U_WINDOW_FAILURES,
  U_WINDOW_REQUESTS,
  U_WINDOW_START,
  U_WORDS,
  W_ACTIVE,
  W_RETRYING,
  W_WORDS,
  type CounterName,
} from './layout.js';
import type { Segment } from './segment.js';
import { ADMIT, ADMIT_TRIAL, type BreakerPolicy, type BreakerSnapshot, type EjectPolicy, type StateStore, type TargetSnapshot } from './store.js';

/** Peak-EWMA decay time constant (Finagle/Linkerd use 10 s). */
const EWMA_TAU_MS = 10_000;
const STATES = ['closed', 'open', 'half-open'] as const;

export class ShmStore implements StateStore {
  readonly segment: Segment;
  readonly table: KeyedTable;
  readonly #epoch: number;
  readonly #c: Int32Array;
  readonly #t: Int32Array;
  readonly #tf: Float64Array;
  readonly #w: Int32Array;
  readonly #u: Int32Array;
  /** This process's column in the per-worker counts, -1 for the supervisor. */
  readonly #col: number;

  constructor(segment: Segment, workerSlot: number) {
    const { sab, layout: l } = segment;
    if (workerSlot >= l.workerSlots) throw new RangeError(`worker slot ${workerSlot} is beyond the segment's ${l.workerSlots}`);
    this.segment = segment;
    this.#epoch = segment.epoch;
    this.#c = new Int32Array(sab, l.counters, COUNTERS);
    this.#t = new Int32Array(sab, l.targetsOff, l.targets * T_WORDS);
    this.#tf = new Float64Array(sab, l.targetsOff, (l.targets * T_WORDS) / 2);
    this.#w = new Int32Array(sab, l.workersOff, l.workerSlots * l.targets * W_WORDS);
    this.#u = new Int32Array(sab, l.upstreamsOff, l.upstreams * U_WORDS);
    this.#col = workerSlot < 0 ? -1 : workerSlot * l.targets * W_WORDS;
    this.table = new KeyedTable(sab, l.tableOff, l.tableCells, this.#c, () => ((Date.now() - this.#epoch) / 1000) | 0);
  }

  get targetCapacity(): number {
    return this.segment.layout.targets;
  }

  get upstreamCapacity(): number {
    return this.segment.layout.upstreams;
  }

  now(): number {
    return (Date.now() - this.#epoch) | 0;
  }

  // --- targets: hot path ---------------------------------------------------

  begin(t: number): void {
    const b = t * T_WORDS;
    Atomics.add(this.#t, b + T_ACTIVE, 1);
    Atomics.add(this.#t, b + T_REQUESTS, 1);
    if (this.#col >= 0) Atomics.add(this.#w, this.#col + t * W_WORDS + W_ACTIVE, 1);
  }

  end(t: number): void {
    Atomics.sub(this.#t, t * T_WORDS + T_ACTIVE, 1);
    if (this.#col >= 0) Atomics.sub(this.#w, this.#col + t * W_WORDS + W_ACTIVE, 1);
  }

  active(t: number): number {
    const n = Atomics.load(this.#t, t * T_WORDS + T_ACTIVE);
    return n > 0 ? n : 0;
  }

  /**
   * Decayed to now (Finagle's peak EWMA decays on read): a target that was
   * once slow and then got no traffic must look cheaper again with time, or
   * P2C would never send it the request that shows it recovered.
   */
  ewmaUs(t: number): number {
    const v = Atomics.load(this.#t, t * T_WORDS + T_EWMA_US);
    if (v === 0) return 0;
    const dt = (this.now() - Atomics.load(this.#t, t * T_WORDS + T_EWMA_STAMP)) | 0;
    return dt > 0 ? Math.max(1, Math.round(v * Math.exp(-dt / EWMA_TAU_MS))) : v;
  }

  recordLatency(t: number, us: number): void {
    const T = this.#t;
    const i = t * T_WORDS + T_EWMA_US;
    const now = this.now();
    const dt = (now - Atomics.load(T, t * T_WORDS + T_EWMA_STAMP)) | 0;
    const sample = Math.min(Math.max(Math.round(us), 1), 0x7fffffff);
    const w = dt > 0 ? Math.exp(-dt / EWMA_TAU_MS) : 1;
    for (;;) {
      const old = Atomics.load(T, i);
      // Peak-sensitive: a slower sample takes over at once, a faster one decays in.
      const next = old === 0 || sample > old ? sample : Math.round(old * w + sample * (1 - w));
      if (next === old || Atomics.compareExchange(T, i, old, next) === old) break;
    }
    if (T[t * T_WORDS + T_EWMA_STAMP] !== now) Atomics.store(T, t * T_WORDS + T_EWMA_STAMP, now);
  }

  usable(t: number): boolean {
    const T = this.#t;
    const f = Atomics.load(T, t * T_WORDS + T_FLAGS);
    if (f === 0) return true;
    if ((f & (F_CHECK_DOWN | F_ADMIN_DOWN)) !== 0) return false;
    // Only ejected: back in rotation once the ejection time is over. Wrapping
    // delta like every other time here: now() is 32-bit and wraps after 24.8 days.
    if (((this.now() - this.#tf[(t * T_WORDS) / 2 + T_F64_EJECT_UNTIL]!) | 0) < 0) return false;
    // From the flags we read: a re-ejection made since then is not undone.
    Atomics.compareExchange(T, t * T_WORDS + T_FLAGS, f, f & ~F_EJECTED);
    return true;
  }

  recordOutcome(t: number, ok: boolean, policy: EjectPolicy | null): boolean {
    const T = this.#t;
    const b = t * T_WORDS;
    if (ok) {
      if (T[b + T_CONSEC_FAILS] !== 0) Atomics.store(T, b + T_CONSEC_FAILS, 0);
      // Healthy for a full max ejection time since the last one ended: the
      // next ejection starts again from the base time.
      if (
        policy !== null &&
        T[b + T_EJECTIONS] !== 0 &&
        ((this.now() - this.#tf[b / 2 + T_F64_EJECT_UNTIL]!) | 0) > policy.maxEjectionMs
      ) {
        Atomics.store(T, b + T_EJECTIONS, 0);
      }
      return false;
    }
    Atomics.add(T, b + T_FAILURES, 1);
    const n = Atomics.add(T, b + T_CONSEC_FAILS, 1) + 1;
    if (policy === null || n < policy.consecutiveFailures) return false;
    // Eject for base * 2^(earlier ejections), capped. The end time is written
    // before the flag so nobody sees the flag with an old end time.
    const k = Math.min(Atomics.load(T, b + T_EJECTIONS), 20);
    const ms = Math.min(policy.baseEjectionMs * 2 ** k, policy.maxEjectionMs);
    if ((Atomics.load(T, b + T_FLAGS) & F_EJECTED) !== 0) return false;
    this.#tf[b / 2 + T_F64_EJECT_UNTIL] = this.now() + ms;
    const old = Atomics.or(T, b + T_FLAGS, F_EJECTED);
    if ((old & F_EJECTED) !== 0) return false;
    Atomics.add(T, b + T_EJECTIONS, 1);
    Atomics.store(T, b + T_CONSEC_FAILS, 0);
    Atomics.add(this.#c, Counter.ejections, 1);
    return true;
  }

  retryBegin(t: number): void {
    Atomics.add(this.#t, t * T_WORDS + T_RETRYING, 1);
    if (this.#col >= 0) Atomics.add(this.#w, this.#col + t * W_WORDS + W_RETRYING, 1);
  }

  retryEnd(t: number): void {
    Atomics.sub(this.#t, t * T_WORDS + T_RETRYING, 1);
    if (this.#col >= 0) Atomics.sub(this.#w, this.#col + t * W_WORDS + W_RETRYING, 1);
  }

  retrying(t: number): number {
    const n = Atomics.load(this.#t, t * T_WORDS + T_RETRYING);
    return n > 0 ? n : 0;
  }

  // --- targets: control ----------------------------------------------------

  flags(t: number): number {
    return Atomics.load(this.#t, t * T_WORDS + T_FLAGS);
  }

  setFlag(t: number, bit: number, on: boolean): void {
    if (on) Atomics.or(this.#t, t * T_WORDS + T_FLAGS, bit);
    else Atomics.and(this.#t, t * T_WORDS + T_FLAGS, ~bit);
  }

  /** In-flight counts stay: requests of the previous owner still end on this slot. */
  resetTarget(t: number): void {
    const b = t * T_WORDS;
    for (let i = 0; i < T_WORDS; i++) if (i !== T_ACTIVE && i !== T_RETRYING) Atomics.store(this.#t, b + i, 0);
  }

  target(t: number): TargetSnapshot {
    const T = this.#t;
    const b = t * T_WORDS;
    const f = Atomics.load(T, b + T_FLAGS);
    const left = (f & F_EJECTED) !== 0 ? Math.max(0, (this.#tf[b / 2 + T_F64_EJECT_UNTIL]! - this.now()) | 0) : 0;
    return {
      active: this.active(t),
      retrying: this.retrying(t),
      ewmaUs: this.ewmaUs(t),
      flags: f,
      consecutiveFailures: Atomics.load(T, b + T_CONSEC_FAILS),
      ejections: Atomics.load(T, b + T_EJECTIONS),
      ejectedForMs: left,
      requests: Atomics.load(T, b + T_REQUESTS) >>> 0,
      failures: Atomics.load(T, b + T_FAILURES) >>> 0,
    };
  }

  // --- upstreams -------------------------------------------------------------

  nextCursor(u: number): number {
    return Atomics.add(this.#u, u * U_WORDS + U_CURSOR, 1) >>> 0;
  }

  breakerAdmit(u: number, p: BreakerPolicy): number {
    const U = this.#u;
    const b = u * U_WORDS;
    for (;;) {
      const s = Atomics.load(U, b + U_BREAKER);
      if (s === BREAKER_CLOSED) return ADMIT;
      const at = Atomics.load(U, b + U_OPENED_AT);
      const since = (this.now() - at) | 0;
      if (s === BREAKER_OPEN) {
        if (since < p.openMs) return p.openMs - since;
        // Cool-down over: half-open, with fresh trial counts set first. Only
        // the one process that moves the open time on does it: two resetting
        // at once could zero the trial count after the other had admitted a
        // trial (more trials than halfOpenRequests).
        if (Atomics.compareExchange(U, b + U_OPENED_AT, at, this.now()) === at) {
          Atomics.store(U, b + U_TRIALS, 0);
          Atomics.store(U, b + U_TRIAL_OKS, 0);
          Atomics.compareExchange(U, b + U_BREAKER, BREAKER_OPEN, BREAKER_HALF_OPEN);
        }
        continue;
      }
      // Half-open: a bounded number of trials. Trials lost with a dead worker
      // would keep it half-open for ever: start over after another cool-down
      // (again only the process that moves the time on resets the counts).
      if (since > 2 * p.openMs + 1000 && Atomics.compareExchange(U, b + U_OPENED_AT, at, this.now()) === at) {
        Atomics.store(U, b + U_TRIALS, 0);
        Atomics.store(U, b + U_TRIAL_OKS, 0);
      }
      // Counted only when admitted, so a trial given back frees a real slot.
      for (let n = Atomics.load(U, b + U_TRIALS); n < p.halfOpenRequests; n = Atomics.load(U, b + U_TRIALS)) {
        if (Atomics.compareExchange(U, b + U_TRIALS, n, n + 1) === n) return ADMIT_TRIAL;
      }
      return Math.max(1, Math.min(p.openMs, 1000));
    }
  }

  breakerRecord(u: number, p: BreakerPolicy, ok: boolean, trial: boolean): void {
    const U = this.#u;
    const b = u * U_WORDS;
    if (trial) {
      if (!ok) this.#open(b, BREAKER_HALF_OPEN);
      else if (Atomics.add(U, b + U_TRIAL_OKS, 1) + 1 >= p.halfOpenRequests) {
        Atomics.store(U, b + U_WINDOW_START, this.now());
        Atomics.store(U, b + U_WINDOW_REQUESTS, 0);
        Atomics.store(U, b + U_WINDOW_FAILURES, 0);
        Atomics.store(U, b + U_CONSEC_FAILS, 0);
        Atomics.compareExchange(U, b + U_BREAKER, BREAKER_HALF_OPEN, BREAKER_CLOSED);
      }
      return;
    }
    if (Atomics.load(U, b + U_BREAKER) !== BREAKER_CLOSED) return; // a late answer from before it opened
    // Tumbling window: whoever sees it expired starts the next one.
    const now = this.now();
    const ws = Atomics.load(U, b + U_WINDOW_START);
    if (((now - ws) | 0) >= p.windowMs && Atomics.compareExchange(U, b + U_WINDOW_START, ws, now) === ws) {
      Atomics.store(U, b + U_WINDOW_REQUESTS, 0);
      Atomics.store(U, b + U_WINDOW_FAILURES, 0);
    }
    const requests = Atomics.add(U, b + U_WINDOW_REQUESTS, 1) + 1;
    if (ok) {
      if (U[b + U_CONSEC_FAILS] !== 0) Atomics.store(U, b + U_CONSEC_FAILS, 0);
      return;
    }
    const failures = Atomics.add(U, b + U_WINDOW_FAILURES, 1) + 1;
    const consecutive = Atomics.add(U, b + U_CONSEC_FAILS, 1) + 1;
    if (
      (p.consecutiveFailures > 0 && consecutive >= p.consecutiveFailures) ||
      (p.failureRatio > 0 && requests >= p.minRequests && failures / requests >= p.failureRatio)
    ) {
      this.#open(b, BREAKER_CLOSED);
    }
  }

  breakerRelease(u: number): void {
    const U = this.#u;
    const b = u * U_WORDS;
    if (Atomics.load(U, b + U_BREAKER) === BREAKER_HALF_OPEN && Atomics.load(U, b + U_TRIALS) > 0) Atomics.sub(U, b + U_TRIALS, 1);
  }

  #open(b: number, from: number): void {
    const U = this.#u;
    Atomics.store(U, b + U_OPENED_AT, this.now());
    if (Atomics.compareExchange(U, b + U_BREAKER, from, BREAKER_OPEN) === from) {
      Atomics.add(U, b + U_OPENS, 1);
      Atomics.add(this.#c, Counter.circuitOpened, 1);
    }
  }

  breaker(u: number): BreakerSnapshot {
    const U = this.#u;
    const b = u * U_WORDS;
    const s = Atomics.load(U, b + U_BREAKER);
    return {
      state: STATES[s] ?? 'closed',
      windowRequests: Atomics.load(U, b + U_WINDOW_REQUESTS),
      windowFailures: Atomics.load(U, b + U_WINDOW_FAILURES),
      consecutiveFailures: Atomics.load(U, b + U_CONSEC_FAILS),
      opens: Atomics.load(U, b + U_OPENS),
      openForMs: s === BREAKER_OPEN ? (this.now() - Atomics.load(U, b + U_OPENED_AT)) | 0 : 0,
    };
  }

  resetUpstream(u: number): void {
    const b = u * U_WORDS;
    for (let i = 0; i < U_WORDS; i++) Atomics.store(this.#u, b + i, 0);
    Atomics.store(this.#u, b + U_WINDOW_START, this.now());
  }

  // --- gateway-wide ----------------------------------------------------------

  count(name: CounterName, n = 1): void {
    Atomics.add(this.#c, Counter[name], n);
  }

  counters(): Record<CounterName, number> {
    const out = {} as Record<CounterName, number>;
    for (const [k, i] of Object.entries(Counter)) out[k as CounterName] = Atomics.load(this.#c, i) >>> 0;
    return out;
  }

  reclaimWorker(slot: number): void {
    const l = this.segment.layout;
    const col = slot * l.targets * W_WORDS;
    for (let t = 0; t < l.targets; t++) {
      const a = Atomics.exchange(this.#w, col + t * W_WORDS + W_ACTIVE, 0);
      if (a !== 0) Atomics.sub(this.#t, t * T_WORDS + T_ACTIVE, a);
      const r = Atomics.exchange(this.#w, col + t * W_WORDS + W_RETRYING, 0);
      if (r !== 0) Atomics.sub(this.#t, t * T_WORDS + T_RETRYING, r);
    }
  }
}
