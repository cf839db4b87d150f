// At config load (the supervisor's, and `wicket validate`): a route's
// `validate.openapi` document is read (relative to the config file's
// directory), parsed (YAML or JSON) and compiled once as a check, so a
// missing file, a document that is not OpenAPI 3.0/3.1, or a schema Ajv
// cannot compile refuses the config with the route's path. The parsed
// document travels in the resolved config; workers compile it again.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { Api, compileBodySchema } from './operations.js';
import type { ResolvedValidate } from './schema.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export interface FilterLoadIssue {
  /** Below the filter's key. */
  readonly at: readonly (string | number)[];
  readonly message: string;
}

export type FilterLoad = { readonly value: unknown } | { readonly issues: readonly FilterLoadIssue[] };

const fail = (at: (string | number)[], message: string): FilterLoad => ({ issues: [{ at, message }] });

export function loadValidate(raw: unknown, dir: string, route: Obj): FilterLoad {
  if (!isObj(raw)) return { value: raw }; // the schema check reports it
  if (route.respond !== undefined || route.pubsub !== undefined) return fail([], 'validate applies to proxy and websocket routes (the request is checked on its way upstream)');
  const openapi = raw.openapi;
  if ((openapi === undefined) === (raw.body === undefined)) return fail([], 'needs exactly one of openapi (an OpenAPI document) or body (a JSON Schema)');
  if (isObj(raw.body)) {
    const dialect = raw.dialect === 'draft-07' ? 'draft-07' : '2020-12';
    try {
      compileBodySchema(raw.body, dialect, true);
    } catch (e) {
      return fail(['body'], (e as Error).message.replace(/^\/body: /, ''));
    }
    return { value: raw };
  }
  if (typeof openapi !== 'string' || openapi === '') return { value: raw };
  const file = isAbsolute(openapi) ? openapi : resolve(dir, openapi);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail(['openapi'], `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = text.trimStart().startsWith('{') ? JSON.parse(text) : parse(text, { prettyErrors: false });
  } catch (e) {
    return fail(['openapi'], `${file}: not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) return fail(['openapi'], `${file}: not an OpenAPI document (not an object)`);
  try {
    new Api(doc, { responses: raw.responses === true });
  } catch (e) {
    return fail(['openapi'], `${file}: ${(e as Error).message}`);
  }
  const value: ResolvedValidate = { ...(raw as ResolvedValidate), document: doc, file };
  return { value };
}
