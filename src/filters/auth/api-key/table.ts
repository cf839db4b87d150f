// A worker's API-key table: key hash -> key, filled and kept in step by the
// supervisor (control.ts). Checking a key is one HMAC and one Map probe.
//
// Timing: the Map is keyed by HMAC-SHA256(secret, key). Whatever a lookup's
// timing shows is about the HMAC of the caller's own guess, which nobody can
// steer towards a stored hash without the secret; so it says nothing about
// any stored key, and a constant-time compare would add nothing.
import type { KeyObject } from 'node:crypto';
import type { Identity } from '../../../pipeline/identity.js';
import { AuthFailure } from '../authenticator.js';
import { hashKey, MAX_KEY_LENGTH } from './keys.js';
import type { ToWorker, WorkerConsumer, WorkerKey } from './records.js';

interface Entry {
  readonly id: string;
  readonly consumer: string;
  readonly hash: string;
  /** ms since the epoch; Infinity: never. */
  readonly expiresAt: number;
  /** Last use not yet reported (0: none). */
  usedAt: number;
}

const INVALID = new AuthFailure('invalid', 'unknown or revoked API key');
const EXPIRED = new AuthFailure('invalid', 'the API key has expired');
const NOT_LOADED = new AuthFailure('unavailable', 'the API-key table is not loaded yet');

export class KeyTable {
  secret: KeyObject;
  /** The supervisor sent the whole table at least once. */
  ready = false;
  readonly #byHash = new Map<string, Entry>();
  readonly #byId = new Map<string, Entry>();
  readonly #consumers = new Map<string, Identity>();
  /** Keys used since the last report. */
  #used: Entry[] = [];

  constructor(secret: KeyObject) {
    this.secret = secret;
  }

  check(key: string, now: number): Identity | AuthFailure {
    if (!this.ready) return NOT_LOADED;
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) return INVALID;
    const e = this.#byHash.get(hashKey(this.secret, key));
    if (e === undefined) return INVALID;
    if (now >= e.expiresAt) return EXPIRED;
    const id = this.#consumers.get(e.consumer);
    if (id === undefined) return INVALID; // its consumer was deleted; the key's removal is on its way
    if (e.usedAt === 0) this.#used.push(e);
    e.usedAt = now;
    return id;
  }

  /** [id, ms, ...] of keys used since the last call. */
  takeUsed(): (string | number)[] {
    const out: (string | number)[] = [];
    for (const e of this.#used) {
      out.push(e.id, e.usedAt);
      e.usedAt = 0;
    }
    this.#used = [];
    return out;
  }

  /** A message from the supervisor. */
  receive(m: ToWorker): void {
    switch (m.t) {
      case 'all':
        this.#byHash.clear();
        this.#byId.clear();
        this.#consumers.clear();
        this.#used = [];
        this.#put(m.consumers, m.keys);
        this.ready = true;
        break;
      case 'put':
        this.#put(m.consumers ?? [], m.keys ?? []);
        break;
      case 'del':
        for (const name of m.consumers ?? []) {
          this.#consumers.delete(name);
          for (const e of this.#byId.values()) if (e.consumer === name) this.#remove(e.id);
        }
        for (const id of m.keys ?? []) this.#remove(id);
        break;
    }
  }

  get size(): number {
    return this.#byHash.size;
  }

  #put(consumers: readonly WorkerConsumer[], keys: readonly WorkerKey[]): void {
    for (const c of consumers) {
      this.#consumers.set(c.name, Object.freeze({ method: 'api-key', consumer: c.name, claims: Object.freeze({}), scopes: Object.freeze([...c.scopes]), roles: Object.freeze([...c.roles]) }));
    }
    for (const k of keys) {
      this.#remove(k.id);
      const e: Entry = { id: k.id, consumer: k.consumer, hash: k.hash, expiresAt: k.expiresAt ?? Infinity, usedAt: 0 };
      this.#byHash.set(e.hash, e);
      this.#byId.set(e.id, e);
    }
  }

  #remove(id: string): void {
    const e = this.#byId.get(id);
    if (e === undefined) return;
    this.#byId.delete(id);
    this.#byHash.delete(e.hash);
  }
}
