// Request parameters as the document's schemas see them: strings read from
// the path, query and headers by each parameter's style (OpenAPI 3
// "Parameter Object": simple, form, spaceDelimited, pipeDelimited,
// deepObject), into one object per location. Types are then coerced by the
// parameter validator (Ajv coerceTypes), so "42" checks as an integer.
import type { RequestContext } from '../../pipeline/context.js';
import type { Param } from './operations.js';

type Value = string | string[] | Record<string, string>;

/** "a,b,c" -> object: explode "k=v,k=v", else "k,v,k,v". */
function pairs(s: string, explode: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = s.split(',');
  if (explode) {
    for (const p of parts) {
      const eq = p.indexOf('=');
      if (eq > 0) out[p.slice(0, eq)] = p.slice(eq + 1);
    }
  } else {
    for (let i = 0; i + 1 < parts.length; i += 2) out[parts[i]!] = parts[i + 1]!;
  }
  return out;
}

function simple(p: Param, s: string): Value {
  if (p.shape === 'array') return s === '' ? [] : s.split(',');
  if (p.shape === 'object') return pairs(s, p.explode);
  return s;
}

const DELIMITERS: Record<string, string> = { form: ',', spaceDelimited: ' ', pipeDelimited: '|' };

function query(p: Param, q: URLSearchParams): Value | undefined {
  if (p.style === 'deepObject') {
    const out: Record<string, string> = {};
    let any = false;
    const prefix = `${p.name}[`;
    for (const [k, v] of q) {
      if (k.startsWith(prefix) && k.endsWith(']')) {
        out[k.slice(prefix.length, -1)] = v;
        any = true;
      }
    }
    return any ? out : undefined;
  }
  if (p.shape === 'object' && p.explode) {
    // Exploded form objects spread their properties over the query.
    const out: Record<string, string> = {};
    let any = false;
    for (const k of p.properties) {
      const v = q.get(k);
      if (v !== null) {
        out[k] = v;
        any = true;
      }
    }
    return any ? out : undefined;
  }
  const all = q.getAll(p.name);
  if (all.length === 0) return undefined;
  if (p.shape === 'array') return p.explode ? all : all[0] === '' ? [] : all[0]!.split(DELIMITERS[p.style] ?? ',');
  if (p.shape === 'object') return pairs(all[0]!, false);
  return all[0]!;
}

export function pathValues(params: readonly Param[], values: Record<string, string>): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const p of params) {
    const v = values[p.name];
    if (v !== undefined) out[p.name] = simple(p, v);
  }
  return out;
}

export function queryValues(params: readonly Param[], raw: string): Record<string, Value> {
  const q = new URLSearchParams(raw);
  const out: Record<string, Value> = {};
  for (const p of params) {
    const v = query(p, q);
    if (v !== undefined) out[p.name] = v;
  }
  return out;
}

export function headerValues(params: readonly Param[], ctx: RequestContext): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const p of params) {
    const v = ctx.header(p.name.toLowerCase());
    if (v !== undefined) out[p.name] = simple(p, v.trim());
  }
  return out;
}
