// Per-route WebSocket connection limits, exact across workers: one shared
// cell holds the route's total (a CAS admits only below the limit), and one
// cell per worker holds that worker's share, so the supervisor can take a
// dead worker's connections back out of the total (as it does for in-flight
// requests). Cells live in the shared keyed table, so they need no layout.
import type { KeyedTable } from '../../state/keyed-table.js';

const SEP = '\u001f';
/** Counts, not rate state: they must never go stale while a connection is open. */
const TTL = 10 * 365 * 24 * 3600;

const totalKey = (route: string): string => `\u0000ws${SEP}${route}`;
const workerKey = (route: string, slot: number): string => `\u0000ws${SEP}${route}${SEP}${slot}`;

export class RouteConnections {
  readonly #table: KeyedTable;
  readonly #total: string;
  readonly #mine: string;
  readonly #max: number;

  constructor(table: KeyedTable, route: string, workerSlot: number, max: number) {
    this.#table = table;
    this.#total = totalKey(route);
    this.#mine = workerKey(route, workerSlot);
    this.#max = max;
  }

  /** Counts one more connection if the route is below its limit (always, with no limit). */
  open(): boolean {
    const max = this.#max;
    let admitted = false;
    const stored = this.#table.update(this.#total, TTL, (n) => {
      admitted = max <= 0 || n < BigInt(max);
      return admitted ? n + 1n : n;
    });
    // A full table cannot count: admit (the table logs and counts tableFull).
    if (stored === undefined) return true;
    if (admitted) this.#table.update(this.#mine, TTL, (n) => n + 1n);
    return admitted;
  }

  close(): void {
    this.#table.update(this.#total, TTL, (n) => (n > 0n ? n - 1n : n));
    this.#table.update(this.#mine, TTL, (n) => (n > 0n ? n - 1n : n));
  }

  count(): number {
    return Number(this.#table.get(this.#total) ?? 0n);
  }
}

/** The supervisor, when a worker is gone: its connections leave each route's total. */
export function reclaimWorkerConnections(table: KeyedTable, routes: readonly string[], workerSlot: number): void {
  for (const route of routes) {
    const key = workerKey(route, workerSlot);
    const mine = table.get(key);
    if (mine === undefined || mine === 0n) continue;
    table.update(totalKey(route), TTL, (n) => (n > mine ? n - mine : 0n));
    table.reset(key);
  }
}
