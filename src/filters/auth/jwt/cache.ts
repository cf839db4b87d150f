// Verified tokens, by SHA-256 of the token (the token itself is not kept):
// a token seen again costs a hash and a Map lookup instead of a signature
// check. Bounded: the oldest entry goes first (FIFO) when full; an entry
// lives until the token's exp (plus the clock skew the check allowed).
import { createHash } from 'node:crypto';
import type { Identity } from '../../../pipeline/identity.js';

export interface CachedToken {
  readonly identity: Identity;
  /** jti, for the revocation list (undefined: the token has none). */
  readonly jti: string | undefined;
  /** ms since the epoch past which the entry is no good. */
  readonly until: number;
  /** The key set version it was verified under: a changed set re-verifies. */
  readonly keysVersion: number;
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}

export class TokenCache {
  readonly #entries = new Map<string, CachedToken>();
  constructor(readonly capacity: number) {}

  get(hash: string, now: number, keysVersion: number): CachedToken | undefined {
    const e = this.#entries.get(hash);
    if (e === undefined) return undefined;
    if (e.until <= now || e.keysVersion !== keysVersion) {
      this.#entries.delete(hash);
      return undefined;
    }
    return e;
  }

  set(hash: string, e: CachedToken): void {
    if (this.capacity === 0) return;
    this.#entries.delete(hash);
    if (this.#entries.size >= this.capacity) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(hash, e);
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
