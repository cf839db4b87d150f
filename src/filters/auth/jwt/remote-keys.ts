// A worker's copy of one provider's JWKS, as the supervisor fetched it
// (control.ts): workers never fetch. A token naming an unknown kid asks the
// supervisor for a refetch and waits for its answer (the supervisor fetches
// at most once per cooldown, so a flood of made-up kids costs one fetch).
import { isDeepStrictEqual } from 'node:util';
import { jwkKey, type KeyEntry } from './keys.js';
import { KeyTable } from './key-table.js';
import type { ToSupervisor } from './messages.js';

export class RemoteKeys {
  table = new KeyTable([]);
  /** Bumped when the set changes: cached tokens verified under an older set are checked again. */
  version = 0;
  /** The supervisor has given a set (possibly empty) at least once. */
  loaded = false;
  #json = '';
  #waiting: { promise: Promise<void>; resolve: () => void; timer: NodeJS.Timeout } | null = null;
  #askedAt = -Infinity;
  /** Refused members of the last set (for the supervisor's log, not per request). */
  skipped = 0;

  constructor(
    readonly provider: string,
    readonly url: string,
    private send: (m: ToSupervisor) => void,
  ) {}

  cooldownMs = 30_000;
  waitMs = 6_000;
  #allowed: readonly string[] | undefined = undefined;
  #raw: Record<string, unknown>[] | null = null;

  /** Settings of a config version; the set is imported again when the provider's algorithms changed. */
  configure(cooldownMs: number, waitMs: number, allowed: readonly string[] | undefined): void {
    this.cooldownMs = cooldownMs;
    this.waitMs = waitMs;
    if (isDeepStrictEqual(allowed, this.#allowed)) return;
    this.#allowed = allowed;
    if (this.#raw !== null) this.#import(this.#raw);
  }

  /** A set from the supervisor (a broadcast, a snapshot or an answer to our refetch). */
  received(keys: Record<string, unknown>[] | null, answer: boolean): void {
    if (keys !== null) {
      const json = JSON.stringify(keys);
      if (json !== this.#json || !this.loaded) {
        this.#json = json;
        this.#import(keys);
      }
    }
    if (answer) this.#settle();
  }

  #import(keys: Record<string, unknown>[]): void {
    const entries: KeyEntry[] = [];
    this.skipped = 0;
    for (const k of keys) {
      try {
        entries.push(jwkKey(k, this.#allowed));
      } catch {
        this.skipped++; // e.g. a key of an algorithm this provider does not allow
      }
    }
    this.#raw = keys;
    this.table = new KeyTable(entries);
    this.loaded = true;
    this.version++;
  }

  /** Asks for a refetch; resolves when the answer came (or after waitMs). null: asked within the cooldown. */
  refetch(now: number): Promise<void> | null {
    if (this.#waiting !== null) return this.#waiting.promise;
    if (this.loaded && now - this.#askedAt < this.cooldownMs) return null;
    this.#askedAt = now;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    const timer = setTimeout(() => this.#settle(), this.waitMs);
    timer.unref();
    this.#waiting = { promise, resolve, timer };
    this.send({ t: 'refetch', provider: this.provider, url: this.url });
    return promise;
  }

  #settle(): void {
    const w = this.#waiting;
    if (w === null) return;
    this.#waiting = null;
    clearTimeout(w.timer);
    w.resolve();
  }

  close(): void {
    this.#settle();
  }
}
