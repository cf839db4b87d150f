// Route config keys owned by filters, with their schema fragments: the
// config schema's Route object is assembled from this list (config/schema.ts)
// and resolve copies these keys through as they are. Kept apart from the
// registry so the config code never loads filter code.
import type { TSchema } from '@sinclair/typebox';
import { CorsSchema } from './cors/schema.js';
import { HeaderRulesSchema } from './headers/schema.js';

export const FILTER_SCHEMAS: readonly { readonly key: string; readonly schema: TSchema }[] = [
  { key: 'cors', schema: CorsSchema },
  { key: 'headers', schema: HeaderRulesSchema },
];
