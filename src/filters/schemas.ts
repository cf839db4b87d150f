// Route config keys owned by filters, with their schema fragments: the
// config schema's Route object is assembled from this list (config/schema.ts)
// and resolve copies these keys through as they are. Kept apart from the
// registry so the config code never loads filter code; a filter that reads
// files of its own at config load (`load`) gives that function here, which
// must not reach the registry either.
import type { TSchema } from '@sinclair/typebox';
import { CorsSchema } from './cors/schema.js';
import { HeaderRulesSchema } from './headers/schema.js';
import { SecurityHeadersSchema } from './security-headers/schema.js';
import { loadValidate, type FilterLoad } from './validate/load.js';
import { ValidateSchema } from './validate/schema.js';

export interface FilterSchema {
  readonly key: string;
  readonly schema: TSchema;
  /**
   * Called by the config loader on the route's value (schema-checked or
   * not): reads what the filter needs from files (paths relative to `dir`,
   * the config file's directory) and returns the value workers get, or the
   * issues that refuse the config (paths below the key).
   */
  readonly load?: (value: unknown, dir: string, route: Record<string, unknown>) => FilterLoad;
}

export const FILTER_SCHEMAS: readonly FilterSchema[] = [
  { key: 'cors', schema: CorsSchema },
  { key: 'headers', schema: HeaderRulesSchema },
  { key: 'validate', schema: ValidateSchema, load: loadValidate },
  { key: 'securityHeaders', schema: SecurityHeadersSchema },
];
