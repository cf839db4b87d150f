// Prometheus metrics read straight from the shared-memory segment: no IPC, no per-worker registries, the
// numbers every worker acts on. Collected in the supervisor at scrape time.
import { Counter, Gauge, Registry } from 'prom-client';
import type { ResolvedConfig } from '../config/load.js';
import type { CounterName } from '../state/layout.js';
import type { StateStore } from '../state/store.js';
import { metricKeys } from '../features/rate-limit/feature.js';

const COUNTERS: Record<CounterName, [string, string]> = {
  requests: ['wicket_state_requests_total', 'Requests counted in shared memory'],
  retries: ['wicket_upstream_retries_total', 'Upstream tries retried'],
  retriesDeniedByBudget: ['wicket_upstream_retries_denied_total', 'Retries refused by the retry budget'],
  circuitOpened: ['wicket_circuit_opened_total', 'Circuit breaker openings'],
  circuitRejected: ['wicket_circuit_rejected_total', 'Requests answered 503 by an open circuit'],
  ejections: ['wicket_upstream_ejections_total', 'Targets ejected by outlier detection'],
  tableFull: ['wicket_state_table_full_total', 'Keyed-table updates refused: no free or stale cell for the key'],
  tableCellsUsed: ['wicket_state_table_cells_claimed_total', 'Keyed-table cells claimed for the first time'],
  tableReclaimed: ['wicket_state_table_reclaimed_total', 'Stale keyed-table cells reused for another key'],
  noTarget: ['wicket_upstream_no_target_total', 'Requests answered 503: no target in rotation'],
};

const BREAKER_STATES = { closed: 0, open: 1, 'half-open': 2 } as const;

export function stateMetrics(store: StateStore, config: () => ResolvedConfig): Registry {
  const registry = new Registry();
  const values = (): Record<CounterName, number> => store.counters();
  for (const [key, [name, help]] of Object.entries(COUNTERS) as [CounterName, [string, string]][]) {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(values()[key]);
      },
    });
  }
  const targets = (set: (labels: { upstream: string; target: string }, slot: number) => void): void => {
    for (const u of Object.values(config().upstreams)) for (const t of u.targets) set({ upstream: u.name, target: t.url }, t.slot);
  };
  const targetGauge = (name: string, help: string, read: (slot: number) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['upstream', 'target'],
      registers: [registry],
      collect() {
        this.reset();
        targets((labels, slot) => this.set(labels, read(slot)));
      },
    });
  };
  targetGauge('wicket_upstream_target_active', 'Requests in flight to the target, all workers', (s) => store.active(s));
  targetGauge('wicket_upstream_target_healthy', '1 when the target is in rotation', (s) => (store.usable(s) ? 1 : 0));
  targetGauge('wicket_upstream_target_latency_ewma_seconds', 'Peak-EWMA time to response headers', (s) => store.ewmaUs(s) / 1e6);
  const limitCounter = (name: string, help: string, which: 'allowed' | 'limited'): void => {
    new Counter({
      name,
      help,
      labelNames: ['route', 'limit'],
      registers: [registry],
      collect() {
        this.reset();
        for (const r of config().routes) {
          for (const l of r.rateLimit?.limits ?? []) {
            const v = store.table.get(metricKeys(l)[which]);
            this.inc({ route: r.name, limit: l.name }, v === undefined ? 0 : Number(v));
          }
        }
      },
    });
  };
  limitCounter('wicket_ratelimit_allowed_total', 'Requests a limit admitted', 'allowed');
  limitCounter('wicket_ratelimit_limited_total', 'Requests a limit refused (429)', 'limited');
  new Gauge({
    name: 'wicket_circuit_state',
    help: 'Circuit breaker state per upstream: 0 closed, 1 open, 2 half-open',
    labelNames: ['upstream'],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of Object.values(config().upstreams)) {
        if (u.circuitBreaker) this.set({ upstream: u.name }, BREAKER_STATES[store.breaker(u.slot).state]);
      }
    },
  });
  return registry;
}
