// Route config keys owned by filters, with their schema fragments: the
// config schema's Route object is assembled from this list (config/schema.ts)
// and resolve copies these keys through as they are. Kept apart from the
// registry so the config code never loads filter code; a filter that reads
// files of its own at config load (`load`) gives that function here, which
// must not reach the registry either.
import type { TSchema } from '@sinclair/typebox';
import type { Issue } from '../config/errors.js';
import { checkAuth } from './auth/check.js';
import { AuthRouteSchema, AuthSectionSchema } from './auth/schema.js';
import { CorsSchema } from './cors/schema.js';
import { HeaderRulesSchema } from './headers/schema.js';
import { IpAccessSchema } from './ip-access/schema.js';
import { checkIpAccess } from './ip-access/check.js';
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
  { key: 'auth', schema: AuthRouteSchema },
  { key: 'cors', schema: CorsSchema },
  { key: 'headers', schema: HeaderRulesSchema },
  { key: 'ipAccess', schema: IpAccessSchema },
  { key: 'validate', schema: ValidateSchema, load: loadValidate },
  { key: 'securityHeaders', schema: SecurityHeadersSchema },
];

/** Top-level config sections owned by filters (settings their routes share). */
export const FILTER_SECTION_SCHEMAS: readonly { readonly key: string; readonly schema: TSchema }[] = [{ key: 'auth', schema: AuthSectionSchema }];

/** Filters' config checks the schema cannot express (run at load with the other semantic checks). */
export const FILTER_CHECKS: readonly ((root: Record<string, unknown>, configDir: string) => Issue[])[] = [checkAuth, checkIpAccess];
