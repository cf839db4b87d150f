// Revoked token ids (jti), as the supervisor broadcasts them (admin API:
// POST /auth/jwt/revocations). An entry lasts until its token would have
// expired anyway (plus a grace longer than any clock skew), or until deleted.
export class Revocations {
  readonly #until = new Map<string, number | null>();

  get size(): number {
    return this.#until.size;
  }

  has(jti: string, now: number): boolean {
    const u = this.#until.get(jti);
    return u !== undefined && (u === null || u > now);
  }

  add(jti: string, until: number | null): void {
    this.#until.set(jti, until);
  }

  delete(jti: string): boolean {
    return this.#until.delete(jti);
  }

  replace(entries: readonly [string, number | null][]): void {
    this.#until.clear();
    for (const [jti, until] of entries) this.#until.set(jti, until);
  }

  /** Drops entries past their time. */
  prune(now: number): void {
    for (const [jti, u] of this.#until) if (u !== null && u <= now) this.#until.delete(jti);
  }

  entries(): [string, number | null][] {
    return [...this.#until];
  }
}
