// Load-time checks: a route names an endpoint that exists; the secret's variable is set.
import type { MethodCheck } from '../check.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export const introspectionCheck: MethodCheck = {
  route(settings, section, at, issues) {
    if (!isObj(settings) || typeof settings.endpoint !== 'string') return;
    const endpoints = isObj(section) && isObj(section.endpoints) ? section.endpoints : {};
    if (!Object.hasOwn(endpoints, settings.endpoint)) issues.push({ at: [...at, 'endpoint'], message: `no endpoint "${settings.endpoint}" under auth.introspection.endpoints` });
  },
  section(section, at, _dir, issues) {
    const endpoints = isObj(section) && isObj(section.endpoints) ? section.endpoints : {};
    for (const [name, e] of Object.entries(endpoints)) {
      if (!isObj(e) || typeof e.clientSecretEnv !== 'string') continue;
      const v = process.env[e.clientSecretEnv];
      if (v === undefined || v === '') issues.push({ at: [...at, 'endpoints', name, 'clientSecretEnv'], message: `environment variable ${e.clientSecretEnv} is not set` });
    }
  },
};
