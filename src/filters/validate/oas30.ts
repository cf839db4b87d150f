// OpenAPI 3.0 Schema Objects are a dialect of their own (an extended subset
// of JSON Schema draft-05): turned into draft-07 once, at load, so Ajv can
// compile them. Changes: `nullable: true` adds "null" to `type` (and to an
// `enum`); boolean `exclusiveMinimum`/`exclusiveMaximum` become the draft-07
// numbers; the siblings of a `$ref` are dropped (3.0 ignores them).

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

const ONE = ['additionalProperties', 'items', 'not'];
const MANY = ['allOf', 'anyOf', 'oneOf'];
const MAP = ['properties', 'patternProperties'];

/** A converted copy of a 3.0 Schema Object (any nesting). */
export function fromOas30(s: unknown): unknown {
  if (!isObj(s)) return s;
  if (typeof s.$ref === 'string') return { $ref: s.$ref };
  const out: Obj = { ...s };
  for (const k of ONE) if (k in out) out[k] = fromOas30(out[k]);
  for (const k of MANY) if (Array.isArray(out[k])) out[k] = (out[k] as unknown[]).map(fromOas30);
  for (const k of MAP) if (isObj(out[k])) out[k] = Object.fromEntries(Object.entries(out[k] as Obj).map(([p, v]) => [p, fromOas30(v)]));
  for (const [ex, lim] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof out[ex] !== 'boolean') continue;
    if (out[ex] === true && typeof out[lim] === 'number') {
      out[ex] = out[lim];
      delete out[lim];
    } else delete out[ex];
  }
  if (out.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  delete out.nullable;
  return out;
}

/**
 * A copy of a 3.0 document whose Schema Objects are converted: every
 * `schema` of a parameter, header or media type, and components.schemas.
 */
export function convertOas30Document(doc: Obj): Obj {
  const walk = (v: unknown, key: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, ''));
    if (!isObj(v)) return v;
    if (key === 'schema') return fromOas30(v);
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) out[k] = walk(x, k);
    return out;
  };
  const out = walk(doc, '') as Obj;
  const c = out.components;
  if (isObj(c) && isObj(c.schemas)) c.schemas = Object.fromEntries(Object.entries(c.schemas).map(([k, s]) => [k, fromOas30(s)]));
  return out;
}
