// What the supervisor's control (control.ts) needs of a key store: the file
// store (file-store.ts) or Redis (redis-store.ts). A store owns the State:
// it applies every change, its own and (Redis) other gateways', and tells
// the control, which tells the workers.
import type { Change, Intent, Refusal, State } from './records.js';

export interface StoreEvents {
  /** A change was applied to the state (broadcast it). */
  changed(c: Change): void;
  /** The state was replaced whole (broadcast all of it). */
  reloaded(): void;
}

export interface KeyStore {
  readonly state: State;
  /** The records are loaded (a Redis store is not until it connected). */
  readonly ready: boolean;
  /** Makes the change durable, applies it, and returns it; throws StoreUnavailableError. */
  commit(i: Intent): Promise<Change | Refusal>;
  /** Keys used (id -> ms), from workers' reports: persisted in batches. */
  used(id: string, at: number): void;
  /** When each key was last used, as the store knows it (Redis: by any gateway). */
  lastUsed(ids: readonly string[]): Promise<(number | null)[]>;
  close(): Promise<void>;
}

/** The store could not be read or written; the admin API answers 503. */
export class StoreUnavailableError extends Error {}
