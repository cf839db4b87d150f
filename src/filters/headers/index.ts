// Header rules: rename, remove, set and add request headers (on the way
// upstream) and response headers (on every response to the client). Values
// are templates compiled once per config version.
import type { RequestContext } from '../../pipeline/context.js';
import type { FilterModule } from '../../pipeline/filter.js';
import type { HeaderRulesConfig, RuleSet } from './schema.js';

type Template = (ctx: RequestContext) => string;

const FIELDS: Record<string, Template> = {
  client_ip: (c) => c.remoteAddress,
  request_id: (c) => c.requestId,
  method: (c) => c.method,
  path: (c) => c.path,
  host: (c) => c.host,
  route: (c) => c.route,
  scheme: (c) => c.listener.scheme,
};

/** A value template to a function (the schema already checked its placeholders). */
export function compileTemplate(src: string): Template {
  const parts: (string | Template)[] = [];
  const re = /\{([^}]+)\}/g;
  let at = 0;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    if (m.index > at) parts.push(src.slice(at, m.index));
    const name = m[1]!;
    if (name.startsWith('param.')) {
      const p = name.slice(6);
      parts.push((c) => c.params[p] ?? '');
    } else if (name.startsWith('header.')) {
      const h = name.slice(7);
      parts.push((c) => c.header(h) ?? '');
    } else {
      const f = FIELDS[name];
      if (f === undefined) throw new Error(`unknown placeholder {${name}}`);
      parts.push(f);
    }
    at = m.index + m[0].length;
  }
  if (at < src.length) parts.push(src.slice(at));
  if (parts.every((p) => typeof p === 'string')) {
    const s = parts.join('');
    return () => s;
  }
  // Values end up in a header: CR/LF from a request field would split it.
  return (c) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : p(c);
    return s.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, '');
  };
}

interface CompiledRules {
  readonly rename: readonly [string, string][];
  readonly remove: ReadonlySet<string>;
  readonly set: readonly [string, Template][];
  readonly add: readonly [string, Template][];
}

function compileRules(r: RuleSet): CompiledRules {
  const set = Object.entries(r.set ?? {}).map(([k, v]) => [k, compileTemplate(v)] as [string, Template]);
  // set replaces: the names it sets are removed first.
  const remove = new Set([...(r.remove ?? []), ...set.map(([k]) => k)]);
  return {
    rename: Object.entries(r.rename ?? {}),
    remove,
    set,
    add: Object.entries(r.add ?? {}).map(([k, v]) => [k, compileTemplate(v)] as [string, Template]),
  };
}

/** Applies rules to a flat [name, value, ...] list of lower-case names, in place. */
export function applyRules(r: CompiledRules, ctx: RequestContext, h: string[]): void {
  if (r.rename.length > 0) {
    for (let i = 0; i < h.length; i += 2) {
      for (const [from, to] of r.rename) if (h[i] === from) h[i] = to;
    }
  }
  if (r.remove.size > 0) {
    let w = 0;
    for (let i = 0; i < h.length; i += 2) {
      if (r.remove.has(h[i]!)) continue;
      h[w++] = h[i]!;
      h[w++] = h[i + 1]!;
    }
    h.length = w;
  }
  for (const [k, t] of r.set) h.push(k, t(ctx));
  for (const [k, t] of r.add) h.push(k, t(ctx));
}

export const headersFilter: FilterModule = {
  key: 'headers',
  order: 900,
  compile(route) {
    const cfg = route.config.headers as HeaderRulesConfig | undefined;
    if (cfg === undefined || (cfg.request === undefined && cfg.response === undefined)) return null;
    const req = cfg.request === undefined ? null : compileRules(cfg.request);
    const res = cfg.response === undefined ? null : compileRules(cfg.response);
    return {
      name: 'headers',
      ...(req !== null ? { onUpstreamRequest: (ctx: RequestContext, h: string[]) => applyRules(req, ctx, h) } : {}),
      ...(res !== null ? { onResponseHeaders: (ctx: RequestContext, head: { headers: string[] }) => applyRules(res, ctx, head.headers) } : {}),
    };
  },
};
