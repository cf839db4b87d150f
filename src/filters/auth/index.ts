// The auth filter: the route's methods decide who the caller is (any of them,
// or all of them), then the route's requirements decide what it may do.
// No credential: 401 with every method's challenge (or the anonymous
// consumer, when the route allows it). A bad credential: 401, never
// downgraded to anonymous. Known but not allowed: 403. A method that could
// not decide (key set or introspection endpoint away, hashing pool full): 503.
import type { RequestContext } from '../../pipeline/context.js';
import type { Decision, Filter, FilterModule } from '../../pipeline/filter.js';
import { ANONYMOUS, type Identity } from '../../pipeline/identity.js';
import { AuthFailure, type AuthResult, type Authenticator, type AuthServices } from './authenticator.js';
import { compileRequirement, claimAt, type Check } from './authorize.js';
import { METHODS } from './methods.js';
import type { AuthRouteConfig, AuthSectionConfig } from './schema.js';

/** FilterEnv.services key of the worker's auth services (auth/services.ts). */
export const AUTH_SERVICES = 'auth';

/** What the route's auth compiles to. */
interface CompiledAuth {
  readonly methods: readonly Authenticator[];
  /** The methods with endpoints of their own. */
  readonly intercepting: readonly Authenticator[];
  readonly all: boolean;
  readonly anonymous: boolean;
  readonly require: Check | null;
  readonly methodRequire: ReadonlyMap<string, Check>;
  readonly clientIp: (ctx: RequestContext) => string;
}

function challenges(c: CompiledAuth, ctx: RequestContext, failed: AuthFailure | null, by: Authenticator | null): void {
  const h: string[] = [];
  for (const m of c.methods) {
    const v = m.challenge(m === by ? failed : null);
    if (v !== null) h.push('www-authenticate', v);
  }
  ctx.addResponseHeaders(h);
}

function unauthenticated(c: CompiledAuth, ctx: RequestContext, failed: AuthFailure | null, by: Authenticator | null): Decision {
  ctx.identity = null; // an all-mode pass before the miss is nobody's identity
  if (failed !== null && failed.kind !== 'invalid') return { error: 'WICKET_ERR_AUTH_UNAVAILABLE' };
  challenges(c, ctx, failed, by);
  return { error: 'WICKET_ERR_UNAUTHENTICATED' };
}

function merge(a: Identity, b: Identity): Identity {
  return {
    method: `${a.method}+${b.method}`,
    consumer: a.consumer,
    claims: { ...b.claims, ...a.claims },
    scopes: [...new Set([...a.scopes, ...b.scopes])],
    roles: [...new Set([...a.roles, ...b.roles])],
  };
}

/** Authorization once the caller is known. */
function authorize(c: CompiledAuth, ctx: RequestContext, identity: Identity, methods: readonly Authenticator[]): Decision {
  ctx.identity = identity;
  // HEAD is GET without the body (RFC 9110 §9.3.2): it is held to GET's rules unless it has its own.
  const perMethod = c.methodRequire.get(ctx.method) ?? (ctx.method === 'HEAD' ? c.methodRequire.get('GET') : undefined);
  if (c.require !== null || perMethod !== undefined) {
    let ip: string | null = null;
    const input = { ctx, identity, clientIp: () => (ip ??= c.clientIp(ctx)) };
    if ((c.require !== null && !c.require(input)) || (perMethod !== undefined && !perMethod(input))) {
      // Anonymous callers could do better by authenticating: 401 tells them how.
      if (identity === ANONYMOUS) return unauthenticated(c, ctx, null, null);
      return { error: 'WICKET_ERR_PERMISSION_DENIED' };
    }
  }
  for (const m of methods) m.strip?.(ctx);
  return undefined;
}

/** Runs the methods from `i` on, synchronously while they answer synchronously. */
function step(c: CompiledAuth, ctx: RequestContext, i: number, acc: Identity | null, used: Authenticator[]): Decision | Promise<Decision> {
  for (; i < c.methods.length; i++) {
    const m = c.methods[i]!;
    const r = m.authenticate(ctx);
    if (r instanceof Promise) return r.then((v) => resume(c, ctx, i, acc, used, m, v));
    const d = after(c, ctx, acc, used, m, r);
    if (d !== CONTINUE) return d;
    if (c.all) acc = ctx.identity;
  }
  return finish(c, ctx, acc, used);
}

function resume(c: CompiledAuth, ctx: RequestContext, i: number, acc: Identity | null, used: Authenticator[], m: Authenticator, r: AuthResult): Decision | Promise<Decision> {
  const d = after(c, ctx, acc, used, m, r);
  if (d !== CONTINUE) return d;
  return step(c, ctx, i + 1, c.all ? ctx.identity : acc, used);
}

/** after() saying: go on with the next method. */
const CONTINUE = Symbol('continue');

/** One method's answer: a decision, or CONTINUE (no credential in any mode; a pass in all mode, its identity in ctx.identity). */
function after(c: CompiledAuth, ctx: RequestContext, acc: Identity | null, used: Authenticator[], m: Authenticator, r: AuthResult): Decision | typeof CONTINUE {
  if (r instanceof AuthFailure) return unauthenticated(c, ctx, r, m);
  if (r === null) return c.all ? unauthenticated(c, ctx, null, null) : CONTINUE;
  used.push(m);
  if (!c.all) return authorize(c, ctx, r, used);
  ctx.identity = acc === null ? r : merge(acc, r);
  return CONTINUE;
}

function finish(c: CompiledAuth, ctx: RequestContext, acc: Identity | null, used: Authenticator[]): Decision | Promise<Decision> {
  if (c.all) return authorize(c, ctx, acc!, used); // every method passed (a miss answered already)
  if (c.anonymous) return authorize(c, ctx, ANONYMOUS, []);
  for (const m of c.methods) {
    const r = m.onMissing?.(ctx);
    if (r !== undefined) return r;
  }
  return unauthenticated(c, ctx, null, null);
}

/** A method's own endpoint answers first (an OIDC callback carries no credential yet). */
function intercepted(c: CompiledAuth, ctx: RequestContext): Decision | Promise<Decision> | null {
  for (const m of c.intercepting) {
    const r = m.intercept!(ctx);
    if (r !== undefined) return r;
  }
  return null;
}

/** Upstream headers from the identity: name -> how to read it. */
function identityHeader(source: string): (id: Identity) => string | undefined {
  if (source === 'consumer') return (id) => id.consumer;
  if (source === 'method') return (id) => id.method;
  if (source === 'scopes') return (id) => (id.scopes.length > 0 ? id.scopes.join(' ') : undefined);
  if (source === 'roles') return (id) => (id.roles.length > 0 ? id.roles.join(',') : undefined);
  const path = source.slice('claim:'.length);
  return (id) => {
    const v = claimAt(id.claims, path);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
}

/** The route's auth over its authenticators (the module below builds those from METHODS). */
export function compileAuth(cfg: AuthRouteConfig, methods: readonly Authenticator[], route: string, roles: AuthSectionConfig['roles'], clientIp: (ctx: RequestContext) => string): Filter {
  const at = (where: string, build: () => Check): Check => {
    try {
      return build();
    } catch (err) {
      throw new Error(`auth.${where}: ${(err as Error).message}`);
    }
  };
  const c: CompiledAuth = {
    methods,
    intercepting: methods.filter((m) => m.intercept !== undefined),
    all: cfg.mode === 'all',
    anonymous: cfg.anonymous ?? false,
    require: cfg.require === undefined ? null : at('require', () => compileRequirement(cfg.require!, route, roles)),
    methodRequire: new Map(Object.entries(cfg.methodRequire ?? {}).map(([m, r]) => [m, at(`methodRequire.${m}`, () => compileRequirement(r, route, roles))])),
    clientIp,
  };
  const headers = Object.entries(cfg.upstreamHeaders ?? {}).map(([name, source]) => [name, identityHeader(source)] as const);
  const names = new Set(headers.map(([n]) => n));
  return {
    name: 'auth',
    onRequest(ctx) {
      return (c.intercepting.length === 0 ? null : intercepted(c, ctx)) ?? step(c, ctx, 0, null, []);
    },
    onUpstreamRequest:
      headers.length === 0 ? undefined : (ctx, out) => {
        // The client's own copies never reach the upstream: only the gateway's.
        for (let i = out.length - 2; i >= 0; i -= 2) if (names.has(out[i]!)) out.splice(i, 2);
        const id = ctx.identity;
        if (id === null) return;
        for (const [name, read] of headers) {
          const v = read(id);
          if (v !== undefined) out.push(name, v);
        }
      },
  };
}

export const authFilter: FilterModule = {
  key: 'auth',
  order: 250,
  compile(route, env) {
    const cfg = route.config.auth as AuthRouteConfig | undefined;
    if (cfg === undefined) return null;
    const services = env.services.get(AUTH_SERVICES) as AuthServices | undefined;
    if (services === undefined) throw new Error('auth: the worker has no auth services');
    const methods = cfg.methods.map((entry, n) => {
      const [key, settings] = Object.entries(entry)[0]!;
      const m = METHODS.find((x) => x.key === key);
      if (m === undefined) throw new Error(`auth.methods[${n}]: unknown method ${key}`);
      try {
        return m.create(settings, services, route.name);
      } catch (err) {
        throw new Error(`auth.methods[${n}].${key}: ${(err as Error).message}`);
      }
    });
    return compileAuth(cfg, methods, route.name, services.section?.roles, env.clientIp);
  },
};
