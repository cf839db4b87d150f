// Every filter, in chain order (FilterModule.order). A new filter is one
// folder under src/filters/ plus one line here (and, for a new route config
// key, one line in schemas.ts, which the config schema is assembled from).
import type { FilterModule } from '../pipeline/filter.js';
import { authFilter } from './auth/index.js';
import { corsFilter } from './cors/index.js';
import { grpcWebFilter } from './grpc-web/index.js';
import { headersFilter } from './headers/index.js';
import { ipAccessFilter } from './ip-access/index.js';
import { rateLimitFilter } from './rate-limit/index.js';
import { securityHeadersFilter } from './security-headers/index.js';
import { validateFilter } from './validate/index.js';

export const FILTERS: readonly FilterModule[] = [
  ipAccessFilter, // 50: a denied client gets nothing else
  corsFilter, // 100: preflights answered before anything else looks at them
  grpcWebFilter, // 200
  authFilter, // 250: who the caller is, and what it may do
  rateLimitFilter, // 300: after auth, so `consumer` keys are the verified identity
  validateFilter, // 400: after auth and rate limits (a refused request is not read), before header rules
  headersFilter, // 900: header rules see the request as it goes upstream
  securityHeadersFilter, // 950: response phases run in reverse order, so `headers.response` rules still apply after it
].sort((a, b) => a.order - b.order);
