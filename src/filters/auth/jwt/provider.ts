// One provider as a worker verifies its tokens: pick the key by the header's
// alg and kid (keys.ts decides which algs a key may verify), check signature
// and claims with jose, build the identity, remember it (cache.ts). A token
// seen before is answered synchronously from the cache; only new tokens pay
// for a signature check (a Promise).
import type { JWTPayload } from 'jose';
import type { Identity } from '../../../pipeline/identity.js';
import { AuthFailure, type AuthResult } from '../authenticator.js';
import { claimAt } from '../authorize.js';
import { TokenCache, tokenHash } from './cache.js';
import type { KeyEntry } from './keys.js';
import { KeyTable } from './key-table.js';
import type { RemoteKeys } from './remote-keys.js';
import type { Revocations } from './revocations.js';
import { ALGORITHMS, type ProviderConfig } from './schema.js';
import { MAX_TOKEN_LENGTH, readHeader, stringList } from './token.js';

/** jose, loaded when a provider exists: a worker without JWT routes never pays for the import. */
let jose: Promise<typeof import('jose')> | null = null;
const loadJose = (): Promise<typeof import('jose')> => (jose ??= import('jose'));

const invalid = (description: string): AuthFailure => new AuthFailure('invalid', description);
/** Tokens without exp are refused, so every cache entry ends. */
const ALWAYS_REQUIRED = ['exp'];
const KNOWN: ReadonlySet<string> = new Set(ALGORITHMS);

/** A jose error as a description for the client: what was wrong, never the token or internals. */
function describe(err: unknown): string {
  const e = err as { code?: string; claim?: string; reason?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return 'token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return 'token not yet valid';
      if (e.claim === 'iat') return 'token issued in the future';
      if (e.claim === 'iss') return 'unexpected issuer';
      if (e.claim === 'aud') return 'unexpected audience';
      if (e.reason === 'missing') return `token has no ${e.claim} claim`;
      return `invalid ${e.claim} claim`;
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'invalid signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'algorithm not allowed';
    case 'ERR_JWT_INVALID':
    case 'ERR_JWS_INVALID':
      return 'malformed token';
    default:
      return 'token could not be verified';
  }
}

export class Provider {
  readonly #cfg: ProviderConfig;
  readonly #local: KeyTable;
  readonly #remote: RemoteKeys | null;
  readonly #revoked: Revocations;
  readonly #cache: TokenCache;
  readonly #skewMs: number;
  readonly #allowed: ReadonlySet<string> | null;
  readonly #required: readonly string[];
  readonly #claims: readonly [string, ReadonlySet<string>][];
  /** Checks in flight by token hash: the same new token arriving N times at once is verified once. */
  readonly #inflight = new Map<string, Promise<AuthResult>>();

  constructor(
    readonly name: string,
    cfg: ProviderConfig,
    local: readonly KeyEntry[],
    remote: RemoteKeys | null,
    revoked: Revocations,
    cache: TokenCache,
  ) {
    this.#cfg = cfg;
    this.#local = new KeyTable(local);
    this.#remote = remote;
    this.#revoked = revoked;
    this.#cache = cache;
    this.#skewMs = (cfg.clockSkewSeconds ?? 30) * 1000;
    this.#allowed = cfg.algorithms === undefined ? null : new Set(cfg.algorithms);
    this.#required = (cfg.requiredClaims ?? []).filter((c) => c.includes('.'));
    void loadJose();
    this.#claims = Object.entries(cfg.claims ?? {}).map(([path, want]) => [path, new Set((Array.isArray(want) ? want : [want]).map(String))]);
  }

  get cache(): TokenCache {
    return this.#cache;
  }

  /** Synchronous for a token verified before (and still good); a Promise otherwise. */
  check(token: string): AuthResult | Promise<AuthResult> {
    if (token.length > MAX_TOKEN_LENGTH) return invalid('token too large');
    const hash = tokenHash(token);
    const now = Date.now();
    const hit = this.#cache.get(hash, now, this.#keysVersion());
    if (hit !== undefined) {
      if (hit.jti !== undefined && this.#revoked.size > 0 && this.#revoked.has(hit.jti, now)) return invalid('token revoked');
      return hit.identity;
    }
    let p = this.#inflight.get(hash);
    if (p === undefined) {
      p = this.#verify(token, hash).finally(() => this.#inflight.delete(hash));
      this.#inflight.set(hash, p);
    }
    return p;
  }

  #keysVersion(): number {
    return this.#remote?.version ?? 0;
  }

  #find(alg: string, kid: string | undefined): { keys: KeyEntry[]; unknownKid: boolean } {
    const local = this.#local.find(alg, kid);
    if (this.#remote === null) return local;
    const remote = this.#remote.table.find(alg, kid);
    return { keys: [...local.keys, ...remote.keys], unknownKid: local.unknownKid && remote.unknownKid };
  }

  async #verify(token: string, hash: string): Promise<AuthResult> {
    const header = readHeader(token);
    if (typeof header === 'string') return invalid(header);
    const { alg, kid } = header;
    // 'none' and anything unknown fit no key; a configured list narrows further.
    if (!KNOWN.has(alg) || (this.#allowed !== null && !this.#allowed.has(alg))) return invalid('algorithm not allowed');
    let found = this.#find(alg, kid);
    const remote = this.#remote;
    if (remote !== null && (found.unknownKid || !remote.loaded) && found.keys.length === 0) {
      const wait = remote.refetch(Date.now());
      if (wait !== null) await wait;
      found = this.#find(alg, kid);
      // Never had a key set: we cannot tell (the JWKS endpoint has not answered yet).
      if (found.keys.length === 0 && !remote.loaded && this.#local.size === 0) return new AuthFailure('unavailable', 'signing keys not available');
    }
    if (found.keys.length === 0) return invalid(found.unknownKid ? 'unknown key id' : 'no key for this algorithm');
    const version = this.#keysVersion();
    const { jwtVerify } = await loadJose();
    let payload: JWTPayload | null = null;
    let failure = 'invalid signature';
    for (const k of found.keys) {
      try {
        ({ payload } = await jwtVerify(token, k.key, {
          algorithms: [alg],
          issuer: this.#cfg.issuer,
          audience: this.#cfg.audiences,
          clockTolerance: this.#skewMs / 1000,
          requiredClaims: [...ALWAYS_REQUIRED, ...(this.#cfg.requiredClaims ?? []).filter((c) => !c.includes('.'))],
        }));
        break;
      } catch (err) {
        failure = describe(err);
        // A claim failure is the token's, whichever key: no use trying the next one.
        if (failure !== 'invalid signature') break;
      }
    }
    if (payload === null) return invalid(failure);
    const built = this.#identity(payload);
    if (built instanceof AuthFailure) return built;
    const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
    const now = Date.now();
    if (jti !== undefined && this.#revoked.has(jti, now)) return invalid('token revoked');
    this.#cache.set(hash, { identity: built, jti, until: payload.exp! * 1000 + this.#skewMs, keysVersion: version });
    return built;
  }

  #identity(payload: JWTPayload): Identity | AuthFailure {
    const claims = payload as Record<string, unknown>;
    for (const path of this.#required) if (claimAt(claims, path) === undefined) return invalid(`token has no ${path} claim`);
    for (const [path, allowed] of this.#claims) {
      const v = claimAt(claims, path);
      const vs = Array.isArray(v) ? v.map(String) : v === undefined || v === null || typeof v === 'object' ? [] : [String(v)];
      if (!vs.some((x) => allowed.has(x))) return invalid(`invalid ${path} claim`);
    }
    const consumerClaim = this.#cfg.consumerClaim ?? 'sub';
    const c = claimAt(claims, consumerClaim);
    if (!((typeof c === 'string' && c !== '') || typeof c === 'number')) return invalid(`token has no ${consumerClaim} claim`);
    const scopes =
      this.#cfg.scopesClaim !== undefined
        ? stringList(claimAt(claims, this.#cfg.scopesClaim), true)
        : claims.scope !== undefined
          ? stringList(claims.scope, true)
          : stringList(claims.scp, true);
    const roles = stringList(claimAt(claims, this.#cfg.rolesClaim ?? 'roles'), false);
    return Object.freeze({ method: 'jwt', consumer: String(c), claims: Object.freeze(claims), scopes: Object.freeze(scopes), roles: Object.freeze(roles) });
  }
}
