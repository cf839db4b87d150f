// One worker's view of an OpenID provider: its discovery document (read on
// first use, kept), its signing keys (jose's remote key set: fetched on
// first use and on an unknown kid), and the token endpoint calls of the
// authorization code flow (RFC 6749 §4.1 with PKCE, RFC 7636) and refresh.
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { ProviderRefused, callJson, clientSecretBasic } from '../http-json.js';

export { ProviderRefused };
import type { OidcProviderConfig } from './schema.js';

/** Largest answer read from the provider. */
const MAX_ANSWER_BYTES = 256 * 1024;

interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  end_session_endpoint?: string;
}

export interface Tokens {
  idToken: string | undefined;
  accessToken: string;
  refreshToken: string | undefined;
  /** ms since the epoch when the access token ends (Infinity when the provider did not say). */
  accessExp: number;
  /** The scopes granted (RFC 6749 §5.1: absent when they are the ones requested). */
  scope: string | undefined;
}

/** A refusal rather than an outage: the provider said no, or what it sent does not verify. */
export function refused(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return err instanceof ProviderRefused || (typeof code === 'string' && (code.startsWith('ERR_JWT') || code.startsWith('ERR_JWS')));
}

export const b64url = (b: Buffer): string => b.toString('base64url');
export const randomToken = (): string => b64url(randomBytes(32));
export const pkceChallenge = (verifier: string): string => b64url(createHash('sha256').update(verifier).digest());

export class OidcClient {
  readonly #cfg: OidcProviderConfig;
  readonly #basic: string;
  #discovery: Promise<Discovery> | null = null;
  #keys: ReturnType<typeof createRemoteJWKSet> | null = null;

  constructor(cfg: OidcProviderConfig, clientSecret: string) {
    this.#cfg = cfg;
    this.#basic = clientSecretBasic(cfg.clientId, clientSecret);
  }

  get clientId(): string {
    return this.#cfg.clientId;
  }

  discovery(): Promise<Discovery> {
    // A failed read is not kept: the next login tries again.
    this.#discovery ??= this.#json(`${this.#cfg.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, null)
      .then((d) => {
        const doc = d as Partial<Discovery>;
        if (doc.issuer !== this.#cfg.issuer || typeof doc.authorization_endpoint !== 'string' || typeof doc.token_endpoint !== 'string' || typeof doc.jwks_uri !== 'string') {
          throw new Error('discovery document without issuer (matching the config), authorization_endpoint, token_endpoint or jwks_uri');
        }
        this.#keys = createRemoteJWKSet(new URL(doc.jwks_uri), { timeoutDuration: this.#timeout() });
        return doc as Discovery;
      })
      .catch((err: unknown) => {
        // Not kept, whether the read or the document failed: the next login tries again.
        this.#discovery = null;
        throw err;
      });
    return this.#discovery;
  }

  /** The authorization code for tokens (the code_verifier proves this login started here). */
  async exchange(code: string, verifier: string, redirectUri: string): Promise<Tokens> {
    const d = await this.discovery();
    return this.#tokens(await this.#json(d.token_endpoint, new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })));
  }

  async refresh(refreshToken: string): Promise<Tokens> {
    const d = await this.discovery();
    const t = this.#tokens(await this.#json(d.token_endpoint, new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken })));
    return { ...t, refreshToken: t.refreshToken ?? refreshToken };
  }

  /** The ID token's claims, verified: signature by the provider's keys, issuer, audience, nonce. */
  async verifyIdToken(idToken: string, nonce: string | null): Promise<JWTPayload> {
    const d = await this.discovery();
    const { payload } = await jwtVerify(idToken, this.#keys!, { issuer: d.issuer, audience: this.#cfg.clientId, clockTolerance: 30 });
    if (nonce !== null && payload.nonce !== nonce) throw new ProviderRefused('ID token nonce does not match this login');
    return payload;
  }

  #tokens(a: unknown): Tokens {
    const t = a as Record<string, unknown>;
    if (typeof t.access_token !== 'string') throw new ProviderRefused('token answer without access_token');
    return {
      idToken: typeof t.id_token === 'string' ? t.id_token : undefined,
      accessToken: t.access_token,
      refreshToken: typeof t.refresh_token === 'string' ? t.refresh_token : undefined,
      accessExp: typeof t.expires_in === 'number' ? Date.now() + t.expires_in * 1000 : Infinity,
      scope: typeof t.scope === 'string' ? t.scope : undefined,
    };
  }

  #timeout(): number {
    return this.#cfg.timeoutMs ?? 5000;
  }

  #json(url: string, form: URLSearchParams | null): Promise<unknown> {
    return callJson(url, { timeoutMs: this.#timeout(), maxBytes: MAX_ANSWER_BYTES, ...(form === null ? {} : { form, authorization: this.#basic }) });
  }
}
