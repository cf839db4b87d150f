// The one interface features and balancers use to reach shared state
// (docs/ARCHITECTURE.md, "Shared state"). The shared-memory implementation (shm-store.ts) is exact
// across the workers of one machine; a Redis tier for many machines joins it
// for rate limits. Targets and upstreams are addressed by the slot numbers the
// supervisor assigns (stable across reloads for the same upstream + URL).
import type { CounterName } from './layout.js';
import type { KeyedTable } from './keyed-table.js';

export interface EjectPolicy {
  /** Consecutive failures that eject a target. */
  consecutiveFailures: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export interface BreakerPolicy {
  /** Open when failures / requests >= ratio over the window (with minRequests). */
  failureRatio: number;
  /** Open after this many consecutive failures (0: off). */
  consecutiveFailures: number;
  windowMs: number;
  minRequests: number;
  openMs: number;
  halfOpenRequests: number;
}

/** breakerAdmit: positive = ms until the circuit may be tried again (rejected). */
export const ADMIT = 0;
export const ADMIT_TRIAL = -1;

export interface TargetSnapshot {
  active: number;
  retrying: number;
  ewmaUs: number;
  flags: number;
  consecutiveFailures: number;
  ejections: number;
  ejectedForMs: number;
  requests: number;
  failures: number;
}

export interface BreakerSnapshot {
  state: 'closed' | 'open' | 'half-open';
  windowRequests: number;
  windowFailures: number;
  consecutiveFailures: number;
  opens: number;
  openForMs: number;
}

export interface StateStore {
  /** ms since the segment's epoch (32-bit, compare with wrapping deltas). */
  now(): number;

  // Targets: hot path.
  begin(target: number): void;
  end(target: number): void;
  active(target: number): number;
  ewmaUs(target: number): number;
  /** Records one response latency into the target's peak EWMA. */
  recordLatency(target: number, us: number): void;
  /** False when any health flag is set (an expired ejection is cleared here). */
  usable(target: number): boolean;
  /** Passive outlier detection; returns true when this outcome ejected the target. */
  recordOutcome(target: number, ok: boolean, policy: EjectPolicy | null): boolean;
  retryBegin(target: number): void;
  retryEnd(target: number): void;
  retrying(target: number): number;

  // Targets: control.
  flags(target: number): number;
  setFlag(target: number, bit: number, on: boolean): void;
  /** Zeroes a slot before it is given to a new upstream + URL. */
  resetTarget(target: number): void;
  target(target: number): TargetSnapshot;

  // Upstreams.
  nextCursor(upstream: number): number;
  breakerAdmit(upstream: number, policy: BreakerPolicy): number;
  breakerRecord(upstream: number, policy: BreakerPolicy, ok: boolean, trial: boolean): void;
  /** Gives back a half-open trial that never got an outcome (client gone, no target). */
  breakerRelease(upstream: number): void;
  breaker(upstream: number): BreakerSnapshot;
  resetUpstream(upstream: number): void;

  // Gateway-wide.
  count(name: CounterName, n?: number): void;
  counters(): Record<CounterName, number>;

  /** Keyed cells (rate limits). */
  readonly table: KeyedTable;

  /** Takes a dead worker's in-flight counts back out of the totals. */
  reclaimWorker(workerSlot: number): void;
}
