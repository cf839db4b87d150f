// The `oidc` auth method: browser login with OpenID Connect (authorization
// code flow, PKCE S256, state and nonce), the session in an encrypted cookie
// (session.ts), tokens refreshed before the access token ends, logout. A
// request without a session is sent to the provider when it is a GET or
// HEAD (a browser navigation); other methods get 401.
import type { RequestContext } from '../../../pipeline/context.js';
import type { LocalReply } from '../../../pipeline/filter.js';
import type { Identity } from '../../../pipeline/identity.js';
import { AuthFailure, type AuthResult } from '../authenticator.js';
import type { AuthMethod } from '../methods.js';
import { OidcClient, ProviderRefused, pkceChallenge, randomToken, refused, type Tokens } from './client.js';
import type { OidcProviderConfig, OidcRouteConfig, OidcSectionConfig } from './schema.js';
import { SealedCookies, setCookie } from './session.js';
import { removeCookie, requestCookie } from '../cookies.js';

interface Provider {
  readonly cfg: OidcProviderConfig;
  readonly client: OidcClient;
  readonly cookies: SealedCookies;
}

export class OidcService {
  readonly providers = new Map<string, Provider>();

  constructor(section: OidcSectionConfig, env: NodeJS.ProcessEnv = process.env) {
    for (const [name, cfg] of Object.entries(section.providers)) {
      const secret = env[cfg.clientSecretEnv];
      const key = env[cfg.cookieSecretEnv];
      if (!secret) throw new Error(`auth.oidc.providers.${name}.clientSecretEnv: ${cfg.clientSecretEnv} is not set`);
      if (!key || key.length < 32) throw new Error(`auth.oidc.providers.${name}.cookieSecretEnv: ${cfg.cookieSecretEnv} must hold at least 32 characters`);
      this.providers.set(name, { cfg, client: new OidcClient(cfg, secret), cookies: new SealedCookies(key) });
    }
  }
}

/** Claims that describe the token rather than the user: not kept in the session. */
const TOKEN_CLAIMS = new Set(['iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'at_hash', 'c_hash', 'azp', 'sid', 'auth_time', 'jti']);

const UNAVAILABLE: LocalReply = { error: 'WICKET_ERR_AUTH_UNAVAILABLE' };
const UNAUTHENTICATED: LocalReply = { error: 'WICKET_ERR_UNAUTHENTICATED' };

/** Browsers drop a cookie over 4096 bytes (name, value and attributes): stay under it. */
const MAX_COOKIE_VALUE = 3800;

/** Refreshes under way or just done, by refresh token: a page's parallel requests near expiry make one call (a provider that rotates refresh tokens refuses the second use). */
const refreshes = new Map<string, { readonly result: Promise<Tokens>; until: number }>();
const REFRESH_REUSE_MS = 10_000;

const pick = (o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> => Object.fromEntries(keys.filter((k) => Object.hasOwn(o, k)).map((k) => [k, o[k]]));

const redirect = (location: string, cookies: string[]): LocalReply => ({
  status: 302,
  headers: ['location', location, 'cache-control', 'no-store', ...cookies.flatMap((c) => ['set-cookie', c])],
  body: '',
});

/** Only a path on this gateway: never an open redirect. */
const safeReturn = (r: unknown): string => (typeof r === 'string' && r.startsWith('/') && !r.startsWith('//') && !r.startsWith('/\\') ? r : '/');

export const oidcMethod: AuthMethod = {
  key: 'oidc',
  service: (section) => new OidcService(section as OidcSectionConfig),
  create(settings, services) {
    const route = settings as OidcRouteConfig;
    const p = services.get<OidcService>('oidc')?.providers.get(route.provider);
    if (p === undefined) throw new Error(`no OIDC provider ${route.provider} (auth.oidc.providers)`);
    const { cfg, client, cookies: sealed } = p;
    const name = cfg.cookieName ?? 'wicket_session';
    const txName = `${name}_tx`;
    const sessionMax = cfg.sessionMaxSeconds ?? 28_800;
    const refreshBefore = (cfg.refreshBeforeSeconds ?? 60) * 1000;
    const scopes = (cfg.scopes ?? ['openid']).join(' ');
    const secure = (ctx: RequestContext): boolean => ctx.listener.scheme === 'https';
    const origin = (ctx: RequestContext): string => `${ctx.listener.scheme}://${ctx.host}`;
    const redirectUri = (ctx: RequestContext): string => route.redirectUri ?? `${origin(ctx)}${route.callbackPath}`;
    const clear = (ctx: RequestContext, n: string): string => setCookie(n, '', 0, secure(ctx));

    async function sessionCookie(ctx: RequestContext, t: Tokens, claims: Record<string, unknown>, sessionEnd: number, scope: string): Promise<string> {
      const ttl = Math.max(1, Math.floor((sessionEnd - Date.now()) / 1000));
      // `p`: sessions of one provider only (two providers may share a cookie secret).
      const base = { p: route.provider, at: t.accessExp === Infinity ? 0 : t.accessExp, rt: t.refreshToken, sx: sessionEnd, sc: scope };
      let value = await sealed.seal({ ...base, c: claims, it: t.idToken }, ttl);
      // Too big for a browser: the ID token (only a logout hint) goes first, then all but the usual claims.
      if (value.length > MAX_COOKIE_VALUE) value = await sealed.seal({ ...base, c: claims }, ttl);
      if (value.length > MAX_COOKIE_VALUE) value = await sealed.seal({ ...base, c: pick(claims, ['sub', 'email', 'name', 'preferred_username', 'roles']) }, ttl);
      return setCookie(name, value, ttl, secure(ctx));
    }

    async function login(ctx: RequestContext): Promise<LocalReply> {
      let d;
      try {
        d = await client.discovery();
      } catch {
        return UNAVAILABLE;
      }
      const state = randomToken();
      const nonce = randomToken();
      const verifier = randomToken();
      const back = ctx.query === '' ? ctx.path : `${ctx.path}?${ctx.query}`;
      const tx = await sealed.seal({ st: state, n: nonce, v: verifier, r: back, ru: redirectUri(ctx) }, 600);
      const q = new URLSearchParams({ response_type: 'code', client_id: client.clientId, redirect_uri: redirectUri(ctx), scope: scopes, state, nonce, code_challenge: pkceChallenge(verifier), code_challenge_method: 'S256' });
      return redirect(`${d.authorization_endpoint}?${q}`, [setCookie(txName, tx, 600, secure(ctx))]);
    }

    async function callback(ctx: RequestContext): Promise<LocalReply> {
      const tx = await sealed.open(requestCookie(ctx, txName));
      const state = ctx.queryParam('state');
      const code = ctx.queryParam('code');
      // No login of ours, another browser's state, or the provider said no: nothing to finish.
      if (tx === null || state === undefined || tx.st !== state || code === undefined) return UNAUTHENTICATED;
      let tokens: Tokens;
      let claims: Record<string, unknown>;
      try {
        tokens = await client.exchange(code, String(tx.v), String(tx.ru));
        if (tokens.idToken === undefined) throw new ProviderRefused('no ID token');
        const payload = await client.verifyIdToken(tokens.idToken, String(tx.n));
        claims = Object.fromEntries(Object.entries(payload).filter(([k]) => !TOKEN_CLAIMS.has(k)));
      } catch (err) {
        // A code already used or forged, a bad ID token: 401; the provider away: 503.
        return refused(err) ? UNAUTHENTICATED : UNAVAILABLE;
      }
      const session = await sessionCookie(ctx, tokens, claims, Date.now() + sessionMax * 1000, tokens.scope ?? scopes);
      return redirect(safeReturn(tx.r), [session, clear(ctx, txName)]);
    }

    async function logout(ctx: RequestContext): Promise<LocalReply> {
      const s = await sealed.open(requestCookie(ctx, name));
      const after = `${origin(ctx)}${route.postLogoutPath ?? '/'}`;
      let location = route.postLogoutPath ?? '/';
      try {
        const d = await client.discovery();
        if (d.end_session_endpoint !== undefined && s !== null && typeof s.it === 'string') {
          location = `${d.end_session_endpoint}?${new URLSearchParams({ id_token_hint: s.it, post_logout_redirect_uri: after, client_id: client.clientId })}`;
        }
      } catch {
        // The provider is away: the local session still ends.
      }
      return redirect(location, [clear(ctx, name)]);
    }

    /** One refresh per refresh token per worker; requests that carry the same old cookie meanwhile share its result. */
    function refresh(rt: string): Promise<Tokens> {
      const now = Date.now();
      const hit = refreshes.get(rt);
      if (hit !== undefined && now < hit.until) return hit.result;
      for (const [k, v] of refreshes) if (now >= v.until) refreshes.delete(k);
      const entry = { result: client.refresh(rt), until: Infinity };
      entry.result.then(
        () => void (entry.until = Date.now() + REFRESH_REUSE_MS),
        () => void refreshes.delete(rt),
      );
      refreshes.set(rt, entry);
      return entry.result;
    }

    async function authenticate(ctx: RequestContext, value: string): Promise<AuthResult> {
      const s = await sealed.open(value);
      if (s === null || s.p !== route.provider || typeof s.sx !== 'number' || Date.now() >= s.sx) return null;
      let claims = (s.c ?? {}) as Record<string, unknown>;
      let scope = typeof s.sc === 'string' ? s.sc : scopes;
      const accessExp = typeof s.at === 'number' ? s.at : 0;
      if (accessExp !== 0 && accessExp - Date.now() < refreshBefore) {
        if (typeof s.rt !== 'string') return null; // nothing to refresh with: log in again
        try {
          const t = await refresh(s.rt);
          if (t.idToken !== undefined) {
            const fresh = Object.fromEntries(Object.entries(await client.verifyIdToken(t.idToken, null)).filter(([k]) => !TOKEN_CLAIMS.has(k)));
            // OIDC Core §12.2: a refreshed ID token is about the same user.
            if (fresh.sub !== claims.sub) return null;
            claims = fresh;
          }
          scope = t.scope ?? scope;
          ctx.addResponseHeaders(['set-cookie', await sessionCookie(ctx, t, claims, s.sx, scope)]);
        } catch (err) {
          if (refused(err)) return null; // the refresh token is no good: log in again
          // The provider is away: the session holds while its access token is still valid.
          if (Date.now() >= accessExp) return new AuthFailure('unavailable', 'the session could not be refreshed now');
        }
      }
      const roles = claims.roles;
      const identity: Identity = {
        method: 'oidc',
        consumer: typeof claims.sub === 'string' ? claims.sub : 'unknown',
        claims,
        scopes: scope.split(' ').filter((x) => x !== ''),
        roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
      };
      return identity;
    }

    return {
      kind: 'oidc',
      intercept(ctx) {
        if (ctx.path === route.callbackPath) return callback(ctx);
        if (route.logoutPath !== undefined && ctx.path === route.logoutPath) return logout(ctx);
        return undefined;
      },
      authenticate(ctx) {
        const v = requestCookie(ctx, name);
        return v === undefined ? null : authenticate(ctx, v);
      },
      onMissing(ctx) {
        return ctx.method === 'GET' || ctx.method === 'HEAD' ? login(ctx) : undefined;
      },
      challenge: () => null,
      strip(ctx) {
        // The session is the gateway's: the upstream gets the identity, not the cookie.
        removeCookie(ctx, name);
      },
    };
  },
};
