// An OpenAPI 3.0/3.1 document compiled into what a request is checked
// against: its paths as matchers (concrete before templated, as the
// specification asks) and, per operation, one validator per parameter
// location and one per JSON media type of the body and of each response.
// Everything is compiled here, once per config version; the request path
// only runs the compiled functions. Throws an ApiError naming the JSON
// pointer into the document for what it cannot use.
import type { ValidateFunction } from 'ajv';
import { newAjv, schemaError, type AnyAjv, type Dialect } from './ajv.js';
import { convertOas30Document } from './oas30.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export type Location = 'path' | 'query' | 'header';
const LOCATIONS: readonly string[] = ['path', 'query', 'header', 'cookie'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** OpenAPI: header parameters with these names SHALL be ignored. */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
/** The document's id inside each Ajv instance: refs point into it. */
const DOC_ID = 'wicket:openapi';

export class ApiError extends Error {
  constructor(
    readonly pointer: string,
    message: string,
  ) {
    super(`${pointer === '' ? '' : `${pointer}: `}${message}`);
  }
}

export interface Param {
  readonly name: string;
  readonly in: Location;
  /** How a value string becomes the value the schema checks. */
  readonly shape: 'primitive' | 'array' | 'object';
  readonly style: string;
  readonly explode: boolean;
  /** For exploded form objects: the property names read from the query. */
  readonly properties: readonly string[];
}

export interface LocationCheck {
  readonly params: readonly Param[];
  /** One object schema for the location: the declared parameters by name, `required` ones required. */
  readonly validate: ValidateFunction;
}

export interface Media {
  /** The media range as the document spells it, lower-case (application/json, application/*, ...). */
  readonly range: string;
  /** null: not JSON, or no schema: accepted as is. */
  readonly validate: ValidateFunction | null;
}

export interface BodyCheck {
  readonly required: boolean;
  readonly media: readonly Media[];
  /** Any JSON media type (application/json, *+json) takes media[0] (a route's plain `body` schema). */
  readonly anyJson: boolean;
}

export interface Operation {
  /** METHOD /template, for messages and logs. */
  readonly label: string;
  readonly path: LocationCheck | null;
  readonly query: LocationCheck | null;
  readonly header: LocationCheck | null;
  readonly body: BodyCheck | null;
  /** Status (200, 2XX, default) -> media; null when responses are not checked. */
  readonly responses: ReadonlyMap<string, readonly Media[]> | null;
}

interface PathEntry {
  readonly template: string;
  readonly re: RegExp;
  readonly names: readonly string[];
  readonly literal: number;
  readonly ops: ReadonlyMap<string, Operation>;
}

export type Match =
  | { readonly op: Operation; readonly params: Record<string, string> }
  | { readonly notFound: true }
  | { readonly allow: string };

export const isJsonMedia = (range: string): boolean => range === 'application/json' || /^[a-z0-9!#$&^_.-]+\/[a-z0-9!#$&^_.+-]*\+json$/.test(range);

/** Which of the body's media ranges a request content type falls in: exact, then type/*, then * / *. */
export function pickMedia(body: BodyCheck, contentType: string): Media | undefined {
  const ct = contentType.split(';', 1)[0]!.trim().toLowerCase();
  const media = body.media;
  if (body.anyJson) return isJsonMedia(ct) ? media[0] : undefined;
  const slash = ct.indexOf('/');
  return media.find((m) => m.range === ct) ?? (slash > 0 ? media.find((m) => m.range === `${ct.slice(0, slash)}/*`) : undefined) ?? media.find((m) => m.range === '*/*');
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');
const pointerOf = (segs: readonly (string | number)[]): string => segs.map((s) => `/${escapePointer(String(s))}`).join('');
/** An Ajv ref to a place in the document (URI fragment: percent-encoded where needed). */
const refTo = (pointer: string): string => `${DOC_ID}#${pointer.split('/').map((s) => encodeURIComponent(s)).join('/')}`;

export interface CompileOptions {
  readonly responses: boolean;
}

export class Api {
  readonly #exact = new Map<string, PathEntry>();
  readonly #templated: PathEntry[] = [];

  constructor(document: Obj, opts: CompileOptions) {
    const version = typeof document.openapi === 'string' ? document.openapi : '';
    const v31 = /^3\.1\.\d+/.test(version);
    if (!v31 && !/^3\.0\.\d+/.test(version)) throw new ApiError('/openapi', `not an OpenAPI 3.0 or 3.1 document (openapi: ${JSON.stringify(document.openapi ?? null)})`);
    if (!isObj(document.info) || typeof document.info.title !== 'string' || typeof document.info.version !== 'string') throw new ApiError('/info', 'must be an object with title and version strings');
    if (!isObj(document.paths)) throw new ApiError('/paths', 'must be an object (the operations requests are checked against)');
    const doc = v31 ? document : convertOas30Document(document);
    const dialect: Dialect = v31 ? '2020-12' : 'draft-07';
    if (v31 && document.jsonSchemaDialect !== undefined && document.jsonSchemaDialect !== 'https://spec.openapis.org/oas/3.1/dialect/base' && document.jsonSchemaDialect !== 'https://json-schema.org/draft/2020-12/schema') {
      throw new ApiError('/jsonSchemaDialect', `only the OpenAPI 3.1 base dialect (JSON Schema 2020-12) is supported, not ${JSON.stringify(document.jsonSchemaDialect)}`);
    }
    const c = new Compiler(doc, dialect);
    for (const [template, item] of Object.entries(doc.paths as Obj)) {
      const at = ['paths', template];
      if (!template.startsWith('/')) throw new ApiError(pointerOf(at), 'a path must start with "/"');
      const loc = c.locate(item, at);
      const entry = compilePath(c, template, loc.v, loc.at, opts);
      if (entry.names.length === 0) this.#exact.set(template, entry);
      else this.#templated.push(entry);
    }
    // More literal characters first: /pets/mine before /pets/{id}.
    this.#templated.sort((a, b) => b.literal - a.literal);
  }

  /** The operation for a request; `path` is already stripped of any prefix. */
  find(method: string, path: string): Match {
    const m = method.toLowerCase();
    const candidates: { entry: PathEntry; params: Record<string, string> }[] = [];
    const exact = this.#exact.get(path);
    if (exact !== undefined) candidates.push({ entry: exact, params: {} });
    for (const e of this.#templated) {
      const r = e.re.exec(path);
      if (r === null) continue;
      const params: Record<string, string> = {};
      e.names.forEach((n, i) => (params[n] = decode(r[i + 1]!)));
      candidates.push({ entry: e, params });
    }
    if (candidates.length === 0) return { notFound: true };
    for (const { entry, params } of candidates) {
      const op = entry.ops.get(m) ?? (m === 'head' ? entry.ops.get('get') : undefined);
      if (op !== undefined) return { op, params };
    }
    const allow = new Set<string>();
    for (const { entry } of candidates) for (const k of entry.ops.keys()) allow.add(k.toUpperCase());
    if (allow.has('GET')) allow.add('HEAD');
    return { allow: [...allow].join(', ') };
  }
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Two Ajv instances over one document: parameters (coerced from strings) and bodies (JSON as sent). */
class Compiler {
  readonly params: AnyAjv;
  readonly bodies: AnyAjv;

  constructor(
    readonly doc: Obj,
    readonly dialect: Dialect,
  ) {
    this.params = newAjv(dialect, true);
    this.bodies = newAjv(dialect, false);
    for (const a of [this.params, this.bodies]) a.addSchema(doc, DOC_ID, undefined, false);
  }

  /** Follows a local $ref (#/...) of a non-schema object (parameter, request body, response, path item). */
  deref(v: unknown, at: readonly (string | number)[]): unknown {
    return this.locate(v, at).v;
  }

  /** deref, and where the object really is (refs to a schema go to its own place in the document). */
  locate(v: unknown, at: readonly (string | number)[]): { v: unknown; at: (string | number)[] } {
    const seen = new Set<string>();
    let where = [...at];
    while (isObj(v) && typeof v.$ref === 'string') {
      const ref = v.$ref;
      if (!ref.startsWith('#/')) throw new ApiError(pointerOf(at), `only $refs within the document (#/...) are supported, not ${JSON.stringify(ref)}`);
      if (seen.has(ref)) throw new ApiError(pointerOf(at), `$ref cycle at ${ref}`);
      seen.add(ref);
      let cur: unknown = this.doc;
      where = [];
      for (const seg of ref.slice(2).split('/')) {
        const key = decodeURIComponent(seg).replace(/~1/g, '/').replace(/~0/g, '~');
        where.push(key);
        cur = isObj(cur) ? cur[key] : Array.isArray(cur) ? cur[Number(key)] : undefined;
        if (cur === undefined) throw new ApiError(pointerOf(at), `$ref ${ref} does not resolve`);
      }
      v = cur;
    }
    return { v, at: where };
  }

  /** A validator of the schema at `at`; Ajv resolves its $refs inside the document. */
  compile(ajv: AnyAjv, schema: Obj, at: readonly (string | number)[]): ValidateFunction {
    const ptr = pointerOf(at);
    this.checkRefs(schema, at);
    const bad = schemaError(this.dialect, schema);
    if (bad !== null) throw new ApiError(ptr, `invalid schema: ${bad}`);
    try {
      return ajv.compile({ $ref: refTo(ptr) });
    } catch (e) {
      throw new ApiError(ptr, `schema does not compile: ${(e as Error).message}`);
    }
  }

  /** Only refs into the document: an external one would make Ajv fetch nothing and fail obscurely. */
  checkRefs(v: unknown, at: readonly (string | number)[]): void {
    if (Array.isArray(v)) return v.forEach((x, i) => this.checkRefs(x, [...at, i]));
    if (!isObj(v)) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string' && !x.startsWith('#')) throw new ApiError(pointerOf([...at, k]), `only $refs within the document (#/...) are supported, not ${JSON.stringify(x)}`);
      if (k !== 'example' && k !== 'examples' && k !== 'const' && k !== 'enum' && k !== 'default') this.checkRefs(x, [...at, k]);
    }
  }

  /** The schema's own `type`/`properties`, through one level of $ref (to know how to read a string). */
  shapeOf(schema: Obj, at: readonly (string | number)[]): { shape: Param['shape']; properties: string[] } {
    const s = this.deref(schema, at) as Obj;
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const properties = isObj(s.properties) ? Object.keys(s.properties) : [];
    if (types.includes('array')) return { shape: 'array', properties };
    if (types.includes('object')) return { shape: 'object', properties };
    return { shape: 'primitive', properties };
  }
}

const DEFAULT_STYLE: Record<Location, string> = { path: 'simple', query: 'form', header: 'simple' };
const STYLES: Record<Location, readonly string[]> = { path: ['simple'], query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'], header: ['simple'] };

function compilePath(c: Compiler, template: string, item: unknown, at: (string | number)[], opts: CompileOptions): PathEntry {
  if (!isObj(item)) throw new ApiError(pointerOf(at), 'a path item must be an object');
  const names: string[] = [];
  let literal = 0;
  let re = '^';
  for (const part of template.split(/(\{[^}/]+\})/)) {
    if (part.startsWith('{') && part.endsWith('}')) {
      const n = part.slice(1, -1);
      if (names.includes(n)) throw new ApiError(pointerOf(at), `path parameter {${n}} appears twice`);
      names.push(n);
      re += '([^/]+)';
    } else {
      literal += part.length;
      re += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  const shared = Array.isArray(item.parameters) ? item.parameters : [];
  const ops = new Map<string, Operation>();
  for (const m of METHODS) {
    if (item[m] === undefined) continue;
    const opAt = [...at, m];
    const op = item[m];
    if (!isObj(op)) throw new ApiError(pointerOf(opAt), 'an operation must be an object');
    ops.set(m, compileOperation(c, `${m.toUpperCase()} ${template}`, op, shared, at, opAt, names, opts));
  }
  return { template, re: new RegExp(`${re}$`), names, literal, ops };
}

function compileOperation(c: Compiler, label: string, op: Obj, shared: unknown[], itemAt: (string | number)[], opAt: (string | number)[], pathNames: string[], opts: CompileOptions): Operation {
  // Operation parameters override path-item ones of the same name and location.
  const byKey = new Map<string, { p: Obj; at: (string | number)[] }>();
  const collect = (list: unknown, base: (string | number)[]): void => {
    if (list === undefined) return;
    if (!Array.isArray(list)) throw new ApiError(pointerOf(base), 'parameters must be an array');
    list.forEach((raw, i) => {
      const { v: p, at: pat } = c.locate(raw, [...base, i]);
      if (!isObj(p) || typeof p.name !== 'string' || typeof p.in !== 'string' || !LOCATIONS.includes(p.in)) {
        throw new ApiError(pointerOf(pat), 'a parameter needs a name and an `in` of path, query, header or cookie');
      }
      byKey.set(`${p.in}\0${p.in === 'header' ? p.name.toLowerCase() : p.name}`, { p, at: pat });
    });
  };
  collect(shared, [...itemAt, 'parameters']);
  collect(op.parameters, [...opAt, 'parameters']);
  const groups: Record<Location, { p: Obj; at: (string | number)[] }[]> = { path: [], query: [], header: [] };
  for (const x of byKey.values()) {
    const where = x.p.in as string;
    // Cookies are not checked (docs/ARCHITECTURE.md "Request validation").
    if (where === 'cookie') continue;
    if (where === 'header' && IGNORED_HEADERS.has((x.p.name as string).toLowerCase())) continue;
    groups[where as Location].push(x);
  }
  for (const n of pathNames) {
    if (!groups.path.some((x) => x.p.name === n)) throw new ApiError(pointerOf(opAt), `path parameter {${n}} is not declared (parameters with in: path)`);
  }
  for (const x of groups.path) {
    if (!pathNames.includes(x.p.name as string)) throw new ApiError(pointerOf(x.at), `path parameter ${x.p.name as string} is not in the path template`);
    if (x.p.required !== true) throw new ApiError(pointerOf(x.at), 'a path parameter must have required: true');
  }
  const rb = op.requestBody === undefined ? undefined : c.locate(op.requestBody, [...opAt, 'requestBody']);
  return {
    label,
    path: compileLocation(c, 'path', groups.path),
    query: compileLocation(c, 'query', groups.query),
    header: compileLocation(c, 'header', groups.header),
    body: rb === undefined ? null : compileBody(c, rb.v, rb.at),
    responses: opts.responses ? compileResponses(c, op.responses, [...opAt, 'responses']) : null,
  };
}

function compileLocation(c: Compiler, where: Location, list: { p: Obj; at: (string | number)[] }[]): LocationCheck | null {
  if (list.length === 0) return null;
  const params: Param[] = [];
  const properties: Obj = {};
  const required: string[] = [];
  for (const { p, at } of list) {
    const name = p.name as string;
    const style = typeof p.style === 'string' ? p.style : DEFAULT_STYLE[where];
    if (!STYLES[where].includes(style)) throw new ApiError(pointerOf([...at, 'style']), `style ${style} is not supported for ${where} parameters (supported: ${STYLES[where].join(', ')})`);
    const explode = typeof p.explode === 'boolean' ? p.explode : style === 'form';
    if (isObj(p.schema)) {
      const { shape, properties: props } = c.shapeOf(p.schema, [...at, 'schema']);
      c.checkRefs(p.schema, [...at, 'schema']);
      const bad = schemaError(c.dialect, p.schema);
      if (bad !== null) throw new ApiError(pointerOf([...at, 'schema']), `invalid schema: ${bad}`);
      properties[name] = { $ref: refTo(pointerOf([...at, 'schema'])) };
      params.push({ name, in: where, shape, style, explode, properties: props });
    } else {
      // `content` parameters: presence only (their media types are not decoded).
      properties[name] = {};
      params.push({ name, in: where, shape: 'primitive', style, explode, properties: [] });
    }
    if (p.required === true) required.push(name);
  }
  const schema = { type: 'object', properties, required };
  try {
    return { params, validate: c.params.compile(schema) };
  } catch (e) {
    throw new ApiError(pointerOf(list[0]!.at), `parameter schemas do not compile: ${(e as Error).message}`);
  }
}

function compileMedia(c: Compiler, content: unknown, at: (string | number)[], ajv: AnyAjv): Media[] {
  if (!isObj(content)) throw new ApiError(pointerOf(at), 'content must be an object of media types');
  const out: Media[] = [];
  for (const [range, mt] of Object.entries(content)) {
    const mat = [...at, range];
    if (!isObj(mt)) throw new ApiError(pointerOf(mat), 'a media type must be an object');
    const r = range.toLowerCase().split(';', 1)[0]!.trim();
    const validate = isJsonMedia(r) && isObj(mt.schema) ? c.compile(ajv, mt.schema, [...mat, 'schema']) : null;
    out.push({ range: r, validate });
  }
  return out;
}

function compileBody(c: Compiler, rb: unknown, at: (string | number)[]): BodyCheck {
  if (!isObj(rb)) throw new ApiError(pointerOf(at), 'requestBody must be an object');
  return { required: rb.required === true, media: compileMedia(c, rb.content, [...at, 'content'], c.bodies), anyJson: false };
}

function compileResponses(c: Compiler, responses: unknown, at: (string | number)[]): Map<string, Media[]> {
  const out = new Map<string, Media[]>();
  if (!isObj(responses)) return out;
  for (const [status, raw] of Object.entries(responses)) {
    const { v: r, at: rat } = c.locate(raw, [...at, status]);
    if (!isObj(r) || r.content === undefined) continue;
    out.set(status.toUpperCase() === 'DEFAULT' ? 'default' : status.toUpperCase(), compileMedia(c, r.content, [...rat, 'content'], c.bodies));
  }
  return out;
}

/** The media a response status is documented with: the exact code, then 2XX, then default. */
export function responseMedia(op: Operation, status: number): readonly Media[] | undefined {
  const r = op.responses;
  if (r === null) return undefined;
  return r.get(String(status)) ?? r.get(`${Math.floor(status / 100)}XX`) ?? r.get('default');
}

/** A route's plain body schema (validate.body) as a one-media body check. */
export function compileBodySchema(schema: Obj, dialect: Dialect, required: boolean): BodyCheck {
  const bad = schemaError(dialect, schema);
  if (bad !== null) throw new ApiError('/body', `invalid schema: ${bad}`);
  const ajv = newAjv(dialect, false);
  try {
    return { required, media: [{ range: 'application/json', validate: ajv.compile(schema) }], anyJson: true };
  } catch (e) {
    throw new ApiError('/body', `schema does not compile: ${(e as Error).message}`);
  }
}
