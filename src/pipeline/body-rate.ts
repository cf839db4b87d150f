// The minimum request-body rate: a body that arrives slower than
// `bytesPerSecond`, averaged over `windowMs`, is cut with 408 (slowloris-
// style uploads would otherwise hold a worker's memory and, when streamed,
// an upstream connection). Time the gateway itself pauses a body (its
// consumer is behind) does not count. One sweep a second serves every body
// of the worker: no timer per request.
import type { Readable } from 'node:stream';

export interface MinRate {
  readonly bytesPerSecond: number;
  readonly windowMs: number;
}

/** What a request-body reader exposes for the watch. */
export interface RateWatched extends Readable {
  /** Bytes received from the client so far. */
  readonly received: number;
  /** The gateway paused the client (its consumer is full). */
  readonly pausedByGateway: boolean;
  /** The whole body arrived (it may not all have been read yet). */
  readonly complete: boolean;
}

export class RequestTimeoutError extends Error {
  readonly code = 'WICKET_ERR_REQUEST_TIMEOUT';
}


interface Entry {
  readonly body: RateWatched;
  readonly rate: MinRate;
  windowStart: number;
  bytesAtStart: number;
}

const watched = new Set<Entry>();
let sweeper: NodeJS.Timeout | null = null;
const SWEEP_MS = 1000;

function sweep(): void {
  const now = performance.now();
  for (const e of watched) {
    const b = e.body;
    if (b.destroyed || b.readableEnded || b.complete) {
      watched.delete(e);
      continue;
    }
    if (b.pausedByGateway) {
      e.windowStart = now;
      e.bytesAtStart = b.received;
      continue;
    }
    const elapsed = now - e.windowStart;
    if (elapsed < e.rate.windowMs) continue;
    if (((b.received - e.bytesAtStart) * 1000) / elapsed < e.rate.bytesPerSecond) {
      watched.delete(e);
      b.destroy(new RequestTimeoutError(`request body slower than ${e.rate.bytesPerSecond} B/s over ${e.rate.windowMs} ms`));
      continue;
    }
    e.windowStart = now;
    e.bytesAtStart = b.received;
  }
  if (watched.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

/** Watches `body` until it ends or is destroyed. */
export function watchBodyRate(body: RateWatched, rate: MinRate): void {
  if (rate.bytesPerSecond <= 0) return;
  watched.add({ body, rate, windowStart: performance.now(), bytesAtStart: body.received });
  sweeper ??= setInterval(sweep, SWEEP_MS).unref();
}

/** Bodies being watched (for tests and stats). */
export function watchedBodies(): number {
  return watched.size;
}
