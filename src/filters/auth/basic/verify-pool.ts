// The password-hashing pool of one gateway worker (docs/ARCHITECTURE.md
// "Identity"): a few piscina threads run workers/verify-password.js, so a
// bcrypt check (tens of milliseconds) never blocks the event loop. Admission
// is bounded: at most `threads + maxQueue` checks are in the pool, and one
// more is answered 'busy' at once (a 503), never queued.
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { VerifyTask } from '../../../../workers/verify-password.js';

/**
 * The task module, compiled beside src/ (dist/workers/ in development and in
 * the production build: tsconfig.build.json includes workers/, the
 * Dockerfile copies it).
 */
export const VERIFY_TASK = fileURLToPath(new URL('../../../../workers/verify-password.js', import.meta.url));

export interface VerifyPoolSettings {
  readonly threads: number;
  readonly maxQueue: number;
  /** Added to the threads' nice value (Linux): hashing yields the CPU to the event loop. */
  readonly niceIncrement: number;
}

export type VerifyOutcome = 'match' | 'mismatch' | 'busy' | 'failed';

export class VerifyPool {
  readonly settings: VerifyPoolSettings;
  readonly #pool: Piscina<VerifyTask, boolean>;
  #inPool = 0;

  constructor(settings: VerifyPoolSettings) {
    this.settings = settings;
    this.#pool = new Piscina({
      filename: VERIFY_TASK,
      minThreads: settings.threads,
      maxThreads: settings.threads,
      idleTimeout: Infinity,
      // A backstop only: #inPool refuses first.
      maxQueue: settings.maxQueue + settings.threads,
      niceIncrement: settings.niceIncrement,
    });
  }

  /** Checks in the pool now (running and queued). */
  get inPool(): number {
    return this.#inPool;
  }

  /** No room: verify() would answer 'busy'. */
  get full(): boolean {
    return this.#inPool >= this.settings.threads + this.settings.maxQueue;
  }

  async verify(hash: string, password: string): Promise<VerifyOutcome> {
    if (this.full) return 'busy';
    this.#inPool++;
    try {
      return (await this.#pool.run({ hash, password })) ? 'match' : 'mismatch';
    } catch (err) {
      const m = (err as Error).message;
      return m === 'Task queue is at limit' || m.startsWith('No task queue available') ? 'busy' : 'failed';
    } finally {
      this.#inPool--;
    }
  }

  /** Lets running checks finish, then ends the threads. */
  close(): Promise<void> {
    return this.#pool.close();
  }
}
