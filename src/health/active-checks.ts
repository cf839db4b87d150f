// Active health checks, run once per interval in the supervisor (not once per
// worker). Results go to the targets' F_CHECK_DOWN bit in shared memory, so
// every worker stops or resumes sending at once.
// (Placeholder signature; implemented below.)
import type { ResolvedConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';

export class HealthChecker {
  constructor(
    readonly store: StateStore,
    readonly log: Logger,
  ) {}

  /** Starts, stops or retunes probes to match `config` (slots assigned). */
  update(_config: ResolvedConfig): void {}

  stop(): void {}
}
