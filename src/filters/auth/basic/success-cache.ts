// Recent successful password checks, so a client that sends the same good
// credentials on every request costs an HMAC, not a bcrypt. Keys are
// HMAC-SHA256 of realm, user and password under a key made at random per
// process: the password is never kept, and the key is useless elsewhere.
// Only successes are stored; each entry remembers the hash it was checked
// against, so a changed password misses even before the cache is cleared.
// Bounded in entries (the oldest goes first) and in age (ttl).
import { createHmac, randomBytes } from 'node:crypto';

interface Entry {
  readonly expires: number;
  readonly hash: string;
}

export class SuccessCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Entry>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(ttlMs: number, maxEntries: number, now: () => number = () => performance.now()) {
    this.#ttlMs = ttlMs;
    this.#max = maxEntries;
    this.#now = now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entry key: length-prefixed fields, so ("ab","c") and ("a","bc") differ. */
  keyOf(realm: string, user: string, password: string): string {
    const h = createHmac('sha256', this.#key);
    for (const part of [realm, user, password]) h.update(`${Buffer.byteLength(part)}:`).update(part);
    return h.digest('base64');
  }

  /** A live success for this key checked against this very hash. */
  has(key: string, hash: string): boolean {
    const e = this.#entries.get(key);
    if (e === undefined) return false;
    if (e.expires <= this.#now() || e.hash !== hash) {
      this.#entries.delete(key);
      return false;
    }
    return true;
  }

  add(key: string, hash: string): void {
    if (this.#max === 0 || this.#ttlMs === 0) return;
    this.#entries.delete(key); // re-inserted at the young end
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { expires: this.#now() + this.#ttlMs, hash });
  }

  clear(): void {
    this.#entries.clear();
  }
}
