// Checks of what comes from outside the gateway's own code (admin bodies, the
// store file, records another gateway wrote to Redis), with the Ajv the
// config loader already loaded: compiled on first use.
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type ValidateFunction } from 'ajv';

let ajv: Ajv | null = null;

/** v -> null when it fits `schema`, else the first problem as "path: message". */
export function checker(schema: TSchema): (v: unknown) => string | null {
  let validate: ValidateFunction | null = null;
  return (v) => {
    validate ??= (ajv ??= new Ajv({ strict: true })).compile(schema);
    if (validate(v)) return null;
    const e = validate.errors?.[0];
    return e === undefined ? 'invalid' : `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`;
  };
}
