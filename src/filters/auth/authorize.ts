// Authorization: what a verified identity may do on a route. Compiled once
// per route from auth.require / auth.methodRequire and the top-level RBAC
// role table; checked after authentication, before anything goes upstream.
import { blockList, contains } from '../../features/rate-limit/client-ip.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Identity } from '../../pipeline/identity.js';
import type { ConditionConfig, GrantConfig, RequirementConfig } from './schema.js';

/** What a check may read besides the identity. */
export interface AuthzInput {
  readonly ctx: RequestContext;
  readonly identity: Identity;
  clientIp(): string;
}

export type Check = (i: AuthzInput) => boolean;

/** A claim by dotted path ("realm_access.roles"); undefined when absent. */
export function claimAt(claims: Readonly<Record<string, unknown>>, path: string): unknown {
  let v: unknown = claims;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** A claim's values as strings: arrays give each element, scalars one value, objects none. */
function values(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x) => typeof x !== 'object').map(String);
  if (v === undefined || v === null || typeof v === 'object') return [];
  return [String(v)];
}

/** Every copy of a header, in order (a repeated header must not pass on its first copy alone). */
function headerValues(ctx: RequestContext, name: string): string[] {
  const out: string[] = [];
  const h = ctx.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) out.push(h[i + 1]!);
  return out;
}

const PLACEHOLDER = /\{(param|header|claim)\.([^}]+)\}|\{consumer\}/g;

/** A template like "{param.tenant}" filled from the request; null when a part is missing (never equal). */
function fill(template: string, i: AuthzInput): string | null {
  let missing = false;
  const out = template.replace(PLACEHOLDER, (_m, kind: string | undefined, name: string | undefined) => {
    let v: string | undefined;
    if (kind === undefined) v = i.identity.consumer;
    else if (kind === 'param') v = i.ctx.params[name!];
    else if (kind === 'header') {
      const all = headerValues(i.ctx, name!.toLowerCase());
      v = all.length === 1 ? all[0] : undefined; // repeated: no single value to compare
    }
    else v = values(claimAt(i.identity.claims, name!))[0];
    if (v === undefined) missing = true;
    return v ?? '';
  });
  return missing ? null : out;
}

function subject(c: ConditionConfig): (i: AuthzInput) => string[] {
  if (c.claim !== undefined) {
    const path = c.claim;
    return (i) => values(claimAt(i.identity.claims, path));
  }
  if (c.header !== undefined) {
    const name = c.header;
    return (i) => headerValues(i.ctx, name);
  }
  if (c.param !== undefined) {
    const name = c.param;
    return (i) => {
      const v = i.ctx.params[name];
      return v === undefined ? [] : [v];
    };
  }
  if (c.ip === true) return (i) => [i.clientIp()];
  if (c.consumer === true) return (i) => [i.identity.consumer];
  throw new Error('a condition needs one of claim, header, param, ip, consumer');
}

/** Stands for a repeated header: matches no value (never equal, never in a list or range). */
const REPEATED: string[] = [];

export function compileCondition(c: ConditionConfig): Check {
  const sides = ['claim', 'header', 'param', 'ip', 'consumer'].filter((k) => c[k as keyof ConditionConfig] !== undefined);
  const ops = ['equals', 'notEquals', 'oneOf', 'inCidr', 'exists', 'matches'].filter((k) => c[k as keyof ConditionConfig] !== undefined);
  if (sides.length !== 1) throw new Error(`a condition names exactly one of claim, header, param, ip, consumer (got ${sides.join(', ') || 'none'})`);
  if (ops.length !== 1) throw new Error(`a condition has exactly one of equals, notEquals, oneOf, inCidr, exists, matches (got ${ops.join(', ') || 'none'})`);
  const all = subject(c);
  // A header sent more than once has no one value: only `exists` can hold for it (the
  // upstream may read another copy than the one checked).
  const repeated = c.header !== undefined;
  const get = repeated ? (i: AuthzInput): string[] => {
    const v = all(i);
    return v.length > 1 ? REPEATED : v;
  } : all;
  if (c.exists !== undefined && repeated) {
    const want = c.exists;
    return (i) => all(i).length > 0 === want;
  }
  if (c.equals !== undefined) {
    const t = c.equals;
    return (i) => {
      const want = fill(t, i);
      return want !== null && get(i).includes(want);
    };
  }
  if (c.notEquals !== undefined) {
    const t = c.notEquals;
    return (i) => {
      const v = get(i);
      const other = fill(t, i);
      return v.length > 0 && other !== null && !v.includes(other);
    };
  }
  if (c.oneOf !== undefined) {
    const set = new Set(c.oneOf);
    return (i) => get(i).some((v) => set.has(v));
  }
  if (c.inCidr !== undefined) {
    if (c.ip !== true) throw new Error('inCidr compares the client address: use it with ip: true');
    const list = blockList(c.inCidr)!;
    return (i) => get(i).some((v) => contains(list, v));
  }
  if (c.exists !== undefined) {
    const want = c.exists;
    return (i) => get(i).length > 0 === want;
  }
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${c.matches!})$`);
  } catch (err) {
    throw new Error(`matches: ${(err as Error).message}`);
  }
  return (i) => get(i).some((v) => re.test(v));
}

/** RBAC: does one of the identity's roles grant `route` + `method`? */
export function compileRbac(roles: Readonly<Record<string, readonly GrantConfig[]>>, route: string): (identity: Identity, method: string) => boolean {
  // Per role: the methods it may use on this route ('*': any); roles without a grant here are left out.
  const granted = new Map<string, Set<string>>();
  for (const [role, grants] of Object.entries(roles)) {
    for (const g of grants) {
      if (!g.routes.includes('*') && !g.routes.includes(route)) continue;
      const set = granted.get(role) ?? new Set<string>();
      for (const m of g.methods ?? ['*']) set.add(m);
      granted.set(role, set);
    }
  }
  return (identity, method) => identity.roles.some((r) => {
    const m = granted.get(r);
    return m !== undefined && (m.has('*') || m.has(method));
  });
}

export function compileRequirement(r: RequirementConfig, route: string, roles: Readonly<Record<string, readonly GrantConfig[]>> | undefined): Check {
  const checks: Check[] = [];
  if (r.scopes !== undefined && r.scopes.length > 0) {
    const need = r.scopes;
    checks.push((i) => need.every((s) => i.identity.scopes.includes(s)));
  }
  if (r.roles !== undefined && r.roles.length > 0) {
    const any = new Set(r.roles);
    checks.push((i) => i.identity.roles.some((x) => any.has(x)));
  }
  for (const [path, want] of Object.entries(r.claims ?? {})) {
    const allowed = new Set((Array.isArray(want) ? want : [want]).map(String));
    checks.push((i) => values(claimAt(i.identity.claims, path)).some((v) => allowed.has(v)));
  }
  (r.when ?? []).forEach((c, n) => {
    try {
      checks.push(compileCondition(c));
    } catch (err) {
      throw new Error(`when[${n}]: ${(err as Error).message}`);
    }
  });
  if (r.rbac === true) {
    if (roles === undefined) throw new Error('rbac: true needs the top-level auth.roles table');
    const rbac = compileRbac(roles, route);
    checks.push((i) => rbac(i.identity, i.ctx.method));
  }
  return (i) => {
    for (const c of checks) if (!c(i)) return false;
    return true;
  };
}
