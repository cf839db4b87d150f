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

export function newAjv(dialect: Dialect, coerce: boolean): AnyAjv {
  // strict: false: OpenAPI schemas carry keywords JSON Schema does not know (example, xml, discriminator, x-*).
  const opts: Options = { strict: false, allErrors: true, coerceTypes: coerce ? 'array' : false, validateFormats: true };
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
