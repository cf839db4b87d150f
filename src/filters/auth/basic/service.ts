// The basic method's worker-wide service (docs/ARCHITECTURE.md "Identity"):
// the realms' users (re-read from their files on every config version, so a
// SIGHUP picks up a changed htpasswd), the hashing pool and the success
// cache. One object for the worker's life: a new config version updates it
// in place and keeps the pool and cache when their settings did not change.
import { isDeepStrictEqual } from 'node:util';
import type { Identity } from '../../../pipeline/identity.js';
import { AuthFailure, type AuthResult } from '../authenticator.js';
import type { AuthIo } from '../services.js';
import { loadHtpasswd, type HtpasswdUser } from './htpasswd.js';
import type { BasicSectionConfig } from './schema.js';
import { SuccessCache } from './success-cache.js';
import { VerifyPool, type VerifyOutcome, type VerifyPoolSettings } from './verify-pool.js';

export const DEFAULTS = { threads: 1, maxQueue: 16, niceIncrement: 10, cacheTtlSeconds: 60, cacheMaxEntries: 10_000 } as const;

/**
 * A bcrypt hash (cost 10) of a random string nobody knows: what an unknown
 * user's password is checked against when the realm has no users to copy.
 */
const FALLBACK_DUMMY = '$2b$10$e0EdszoRfCtLZnwUNWhsv.fJ.HueisV16rO.Fc.MrenypFxCIc3P6';

interface Realm {
  readonly name: string;
  readonly users: ReadonlyMap<string, HtpasswdUser>;
  /** Checked for unknown users (see dummyHash). */
  readonly dummy: string;
  readonly text: string;
}

/**
 * What an unknown user's password is checked against: a hash with the
 * parameters most of the realm's users have (bcrypt cost, argon2 m/t/p), so
 * "no such user" costs about what "wrong password" costs and user names
 * cannot be told apart by timing. Its result is thrown away.
 */
export function dummyHash(users: ReadonlyMap<string, HtpasswdUser>): string {
  const byParams = new Map<string, { n: number; hash: string }>();
  for (const { hash } of users.values()) {
    // bcrypt: its cost; argon2: variant, version and m/t/p (what precedes the salt).
    const params = hash.startsWith('$2') ? `bcrypt ${hash.slice(4, 6)}` : hash.split('$').slice(0, 4).join('$');
    const e = byParams.get(params) ?? { n: 0, hash };
    e.n++;
    byParams.set(params, e);
  }
  let best: { n: number; hash: string } | undefined;
  for (const e of byParams.values()) if (best === undefined || e.n > best.n) best = e;
  return best?.hash ?? FALLBACK_DUMMY;
}

function poolSettings(s: BasicSectionConfig): VerifyPoolSettings {
  return { threads: s.threads ?? DEFAULTS.threads, maxQueue: s.maxQueue ?? DEFAULTS.maxQueue, niceIncrement: s.niceIncrement ?? DEFAULTS.niceIncrement };
}

export class BasicService {
  #realms = new Map<string, Realm>();
  #pool: VerifyPool | null = null;
  #cache: SuccessCache | null = null;
  #cacheSettings: [number, number] = [-1, -1];
  /**
   * Checks under way, by cache key: the same credentials sent again meanwhile
   * wait for the same answer, if it is against the same hash (a reload may
   * have changed the user's hash since).
   */
  readonly #pending = new Map<string, { readonly hash: string; readonly outcome: Promise<VerifyOutcome> }>();

  /** A config version: files read first, so a file that went bad since the load check leaves this service as it was. */
  configure(section: BasicSectionConfig, configDir: string): void {
    const realms = new Map<string, Realm>();
    for (const [name, r] of Object.entries(section.realms)) {
      const f = loadHtpasswd(r.htpasswd, configDir);
      realms.set(name, { name, users: f.users, dummy: dummyHash(f.users), text: f.text });
    }
    const changed = [...realms.values()].some((r) => this.#realms.get(r.name)?.text !== r.text) || realms.size !== this.#realms.size;
    this.#realms = realms;
    const ps = poolSettings(section);
    if (this.#pool === null || !isDeepStrictEqual(ps, this.#pool.settings)) {
      const old = this.#pool;
      this.#pool = new VerifyPool(ps);
      void old?.close().catch(() => {});
    }
    const cs: [number, number] = [section.cacheTtlSeconds ?? DEFAULTS.cacheTtlSeconds, section.cacheMaxEntries ?? DEFAULTS.cacheMaxEntries];
    if (this.#cache === null || !isDeepStrictEqual(cs, this.#cacheSettings)) {
      this.#cache = new SuccessCache(cs[0] * 1000, cs[1]);
      this.#cacheSettings = cs;
    } else if (changed) {
      this.#cache.clear(); // a changed user file: every success is checked again
    }
  }

  hasRealm(name: string): boolean {
    return this.#realms.has(name);
  }

  /** Checks in the hashing pool now (tests and the load script read it). */
  get inPool(): number {
    return this.#pool?.inPool ?? 0;
  }

  /** The identity for good credentials, a failure otherwise; synchronous on a cache hit. */
  check(realmName: string, user: string, password: string): AuthResult | Promise<AuthResult> {
    const realm = this.#realms.get(realmName);
    if (realm === undefined) return new AuthFailure('unavailable', 'authentication realm not configured');
    const entry = realm.users.get(user);
    const cache = this.#cache!;
    const key = cache.keyOf(realmName, user, password);
    if (entry !== undefined && cache.has(key, entry.hash)) return identity(realmName, user, entry);
    // Unknown users are checked too (against the realm's dummy hash) and always fail: same cost, same answer.
    const hash = entry?.hash ?? realm.dummy;
    const shared = this.#pending.get(key);
    let pending = shared?.hash === hash ? shared.outcome : undefined;
    if (pending === undefined) {
      // A full pool answers at once: a flood's refusals cost no promise, no thread.
      if (this.#pool!.full) return BUSY;
      const outcome = this.#pool!.verify(hash, password);
      const mine = { hash, outcome };
      this.#pending.set(key, mine);
      void outcome.finally(() => {
        if (this.#pending.get(key) === mine) this.#pending.delete(key);
      });
      pending = outcome;
    }
    return pending.then((outcome) => {
      if (outcome === 'busy') return BUSY;
      if (outcome === 'failed') return new AuthFailure('unavailable', 'the password could not be checked');
      if (outcome === 'mismatch' || entry === undefined) return new AuthFailure('invalid', 'invalid user name or password');
      cache.add(key, entry.hash);
      return identity(realmName, user, entry);
    });
  }

  close(): void {
    void this.#pool?.close().catch(() => {});
    this.#pool = null;
  }
}

const BUSY = new AuthFailure('busy', 'too many password checks in progress');

function identity(realm: string, user: string, entry: HtpasswdUser): Identity {
  return { method: 'basic', consumer: user, claims: { realm }, scopes: [], roles: entry.roles };
}

/** METHODS' service hook: the previous version's service, updated, or a new one. */
export function basicService(section: unknown, previous: unknown, io: AuthIo): BasicService {
  const s = previous instanceof BasicService ? previous : new BasicService();
  s.configure(section as BasicSectionConfig, io.configDir);
  return s;
}
