// What GET /upstreams on the admin API returns, for tests that read it.
export interface TargetView {
  index: number;
  url: string;
  weight: number;
  healthy: boolean;
  down: { check: boolean; admin: boolean; ejected: boolean };
  active: number;
  retrying: number;
  ewmaMs: number;
  ejectedForMs: number;
  ejections: number;
  consecutiveFailures: number;
  requests: number;
  failures: number;
}

export interface CircuitView {
  state: 'closed' | 'open' | 'half-open';
  windowRequests: number;
  windowFailures: number;
  consecutiveFailures: number;
  opens: number;
  openForMs: number;
}

export interface UpstreamView {
  name: string;
  balancer: string;
  circuit: CircuitView | null;
  targets: TargetView[];
}
