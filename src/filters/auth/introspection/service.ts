// Token introspection (RFC 7662) for one worker: the endpoints of the
// top-level auth.introspection section, each with its cache of active tokens
// (by SHA-256 of the token, until exp and at most cacheMaxSeconds) and its
// in-flight calls (one call per token however many requests carry it).
import { createHash } from 'node:crypto';
import { callJson, clientSecretBasic } from '../http-json.js';
import type { Identity } from '../../../pipeline/identity.js';
import { AuthFailure, type AuthResult } from '../authenticator.js';
import { claimAt } from '../authorize.js';
import type { IntrospectionEndpointConfig, IntrospectionSectionConfig } from './schema.js';

/** Calls in flight per endpoint per worker: beyond, new tokens get 503 (a flood of made-up tokens cannot queue without end at the authorization server). */
const MAX_INFLIGHT = 64;
/** Refused tokens remembered (by hash), so the same bad token is not sent again and again. */
const REFUSED_MS = 10_000;
const REFUSED_ENTRIES = 10_000;

/** Largest introspection answer read (RFC 7662 answers are small JSON). */
const MAX_ANSWER_BYTES = 64 * 1024;

const INACTIVE = new AuthFailure('invalid', 'the token is not active');
const BUSY = new AuthFailure('busy', 'too many token checks under way');

function fingerprint(cfg: IntrospectionEndpointConfig, secret: string): string {
  return createHash('sha256').update(JSON.stringify(cfg)).update('\0').update(secret).digest('base64url');
}

interface Cached {
  readonly identity: Identity;
  /** Trusted from the cache until then (min of exp and cacheMaxSeconds). */
  readonly freshUntil: number;
  /** The token's own end (fail-open serves a stale entry up to here, never past). */
  readonly exp: number;
}

export class IntrospectionEndpoint {
  readonly #cfg: IntrospectionEndpointConfig;
  readonly #authorization: string;
  readonly #cache = new Map<string, Cached>();
  readonly #inflight = new Map<string, Promise<AuthResult>>();
  /** Token hash -> until when it stays refused. */
  readonly #refused = new Map<string, number>();
  readonly #maxMs: number;
  readonly #entries: number;
  /** Settings and secret, hashed: a reload with the same keeps this endpoint and its cache. */
  readonly #fingerprint: string;
  /** Calls made to the endpoint. */
  calls = 0;

  constructor(cfg: IntrospectionEndpointConfig, secret: string) {
    this.#cfg = cfg;
    this.#fingerprint = fingerprint(cfg, secret);
    this.#authorization = clientSecretBasic(cfg.clientId, secret); // RFC 7662 §2.1
    this.#maxMs = (cfg.cacheMaxSeconds ?? 300) * 1000;
    this.#entries = cfg.cacheEntries ?? 10_000;
  }

  sameAs(cfg: IntrospectionEndpointConfig, secret: string): boolean {
    return this.#fingerprint === fingerprint(cfg, secret);
  }

  /** Synchronous on a cache hit. */
  check(token: string): AuthResult | Promise<AuthResult> {
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (now < hit.freshUntil) return hit.identity;
      if (now >= hit.exp) this.#cache.delete(key);
    }
    const no = this.#refused.get(key);
    if (no !== undefined) {
      if (now < no) return INACTIVE;
      this.#refused.delete(key);
    }
    let p = this.#inflight.get(key);
    if (p === undefined) {
      if (this.#inflight.size >= MAX_INFLIGHT) return BUSY;
      p = this.#call(token, key).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  async #call(token: string, key: string): Promise<AuthResult> {
    let answer: Record<string, unknown>;
    try {
      this.calls++;
      answer = await this.#post(token);
    } catch {
      // Unreachable, slow or answering nonsense: not the client's fault.
      const stale = this.#cache.get(key);
      if (this.#cfg.failOpen === true && stale !== undefined && Date.now() < stale.exp) return stale.identity;
      return new AuthFailure('unavailable', 'the token could not be checked now');
    }
    const now = Date.now();
    // A refresh token is not an access token, even when active (RFC 7662 §2.2 token_type).
    if (answer.active !== true || answer.token_type === 'refresh_token' || (typeof answer.nbf === 'number' && answer.nbf * 1000 > now + 30_000)) {
      this.#cache.delete(key);
      if (this.#refused.size >= REFUSED_ENTRIES) this.#refused.delete(this.#refused.keys().next().value!);
      this.#refused.set(key, now + REFUSED_MS);
      return INACTIVE;
    }
    // Without exp the token's end is unknown: fail-open serves it at most cacheMaxSeconds past this answer.
    const exp = typeof answer.exp === 'number' ? answer.exp * 1000 : now + this.#maxMs * 2;
    if (exp <= now) return new AuthFailure('invalid', 'the token has expired');
    const identity = this.#identity(answer);
    if (this.#cache.size >= this.#entries) this.#cache.delete(this.#cache.keys().next().value!); // oldest first
    this.#cache.set(key, { identity, freshUntil: Math.min(exp, now + this.#maxMs), exp });
    return identity;
  }

  async #post(token: string): Promise<Record<string, unknown>> {
    const v = await callJson(this.#cfg.url, {
      timeoutMs: this.#cfg.timeoutMs ?? 2000,
      maxBytes: MAX_ANSWER_BYTES,
      authorization: this.#authorization,
      form: new URLSearchParams({ token, token_type_hint: 'access_token' }),
    });
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('introspection answer is not a JSON object');
    return v as Record<string, unknown>;
  }

  #identity(a: Record<string, unknown>): Identity {
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const consumer = (this.#cfg.consumerClaim !== undefined ? str(claimAt(a, this.#cfg.consumerClaim)) : undefined) ?? str(a.sub) ?? str(a.username) ?? str(a.client_id) ?? 'unknown';
    const roles = claimAt(a, this.#cfg.rolesClaim ?? 'roles');
    return {
      method: 'introspection',
      consumer,
      claims: a,
      scopes: typeof a.scope === 'string' ? a.scope.split(' ').filter((s) => s !== '') : [],
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
    };
  }
}

export class IntrospectionService {
  readonly endpoints = new Map<string, IntrospectionEndpoint>();

  constructor(section: IntrospectionSectionConfig, previous: IntrospectionService | undefined, env: NodeJS.ProcessEnv = process.env) {
    for (const [name, cfg] of Object.entries(section.endpoints)) {
      const secret = env[cfg.clientSecretEnv];
      if (secret === undefined || secret === '') throw new Error(`auth.introspection.endpoints.${name}.clientSecretEnv: ${cfg.clientSecretEnv} is not set`);
      // Same settings: keep the endpoint and its cache across a reload.
      const old = previous?.endpoints.get(name);
      this.endpoints.set(name, old !== undefined && old.sameAs(cfg, secret) ? old : new IntrospectionEndpoint(cfg, secret));
    }
  }
}
