// Ajv instances for the validate filter: JSON Schema draft-07 (what an
// OpenAPI 3.0 schema becomes once oas30.ts converted it) or 2020-12 (OpenAPI
// 3.1), with ajv-formats and OpenAPI's own formats. Parameters come as
// strings and are coerced to their schema's types; bodies are JSON and are
// never coerced.
import { createRequire } from 'node:module';
import type { Ajv, Options } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import type { FormatsPlugin } from 'ajv-formats';

export type Dialect = 'draft-07' | '2020-12';
export type AnyAjv = Ajv | Ajv2020;

interface AjvModules {
  readonly Ajv: typeof Ajv;
  readonly Ajv2020: typeof Ajv2020;
  readonly addFormats: FormatsPlugin;
}

// Loaded on first use (Ajv is CommonJS, so synchronously): importing it costs
// a worker about 100-300 ms at start, which a gateway with no validate route
// should not pay.
let modules: AjvModules | null = null;
function ajvModules(): AjvModules {
  if (modules !== null) return modules;
  const require = createRequire(import.meta.url);
  return (modules = {
    Ajv: (require('ajv') as { Ajv: typeof Ajv }).Ajv,
    Ajv2020: (require('ajv/dist/2020') as { Ajv2020: typeof Ajv2020 }).Ajv2020,
    addFormats: (require('ajv-formats') as { default: FormatsPlugin }).default,
  });
}

const INT32 = { type: 'number' as const, validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 };
const INT64 = { type: 'number' as const, validate: (n: number) => Number.isInteger(n) };
const ANY_NUMBER = { type: 'number' as const, validate: () => true };

/**
 * Validators compile with validateSchema off: checking a schema against its
 * meta-schema compiles the meta-schema once per Ajv instance (about 100 ms
 * for 2020-12), so one checker per dialect per process does it (schemaError).
 */
export function newAjv(dialect: Dialect, coerce: boolean): AnyAjv {
  // strict: false: OpenAPI schemas carry keywords JSON Schema does not know (example, xml, discriminator, x-*).
  const opts: Options = { strict: false, allErrors: true, coerceTypes: coerce ? 'array' : false, validateFormats: true, validateSchema: false };
  const m = ajvModules();
  const ajv = dialect === '2020-12' ? new m.Ajv2020(opts) : new m.Ajv(opts);
  m.addFormats(ajv);
  ajv.addFormat('int32', INT32);
  ajv.addFormat('int64', INT64);
  ajv.addFormat('float', ANY_NUMBER);
  ajv.addFormat('double', ANY_NUMBER);
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('binary', true);
  ajv.addFormat('password', true);
  return ajv;
}

const checkers = new Map<Dialect, AnyAjv>();

/** Why `schema` is not a valid schema of its dialect (its meta-schema's verdict), or null. */
export function schemaError(dialect: Dialect, schema: unknown): string | null {
  let a = checkers.get(dialect);
  if (a === undefined) checkers.set(dialect, (a = newAjv(dialect, false)));
  return a.validateSchema(schema as object) ? null : a.errorsText(a.errors, { dataVar: 'schema' });
}
