// Load-time checks: a route names a provider that exists; its secrets are set.
import type { MethodCheck } from '../check.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export const oidcCheck: MethodCheck = {
  route(settings, section, at, issues) {
    if (!isObj(settings) || typeof settings.provider !== 'string') return;
    const providers = isObj(section) && isObj(section.providers) ? section.providers : {};
    if (!Object.hasOwn(providers, settings.provider)) issues.push({ at: [...at, 'provider'], message: `no provider "${settings.provider}" under auth.oidc.providers` });
    if (typeof settings.callbackPath === 'string' && settings.callbackPath === settings.logoutPath) issues.push({ at: [...at, 'logoutPath'], message: 'logoutPath and callbackPath must differ' });
  },
  section(section, at, _dir, issues) {
    const providers = isObj(section) && isObj(section.providers) ? section.providers : {};
    for (const [name, p] of Object.entries(providers)) {
      if (!isObj(p)) continue;
      if (typeof p.clientSecretEnv === 'string' && !process.env[p.clientSecretEnv]) issues.push({ at: [...at, 'providers', name, 'clientSecretEnv'], message: `environment variable ${p.clientSecretEnv} is not set` });
      if (typeof p.cookieSecretEnv === 'string' && (process.env[p.cookieSecretEnv] ?? '').length < 32) {
        issues.push({ at: [...at, 'providers', name, 'cookieSecretEnv'], message: `environment variable ${p.cookieSecretEnv} must hold at least 32 characters` });
      }
    }
  },
};
