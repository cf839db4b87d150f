// Ajv instances for the validate filter: JSON Schema draft-07 (what an
// OpenAPI 3.0 schema becomes once oas30.ts converted it) or 2020-12 (OpenAPI
// 3.1), with ajv-formats and OpenAPI's own formats. Parameters come as
// strings and are coerced to their schema's types; bodies are JSON and are
// never coerced.
import { Ajv, type Options } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import * as formatsModule from 'ajv-formats';

export type Dialect = 'draft-07' | '2020-12';
export type AnyAjv = Ajv | Ajv2020;

// ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
const addFormats = formatsModule.default as unknown as typeof formatsModule.default.default;

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
  const ajv = dialect === '2020-12' ? new Ajv2020(opts) : new Ajv(opts);
  addFormats(ajv);
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
