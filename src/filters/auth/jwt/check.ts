// Load-time checks of the jwt method (auth/check.ts runs them): every key
// must load (the file readable, the PEM a public key, the secret's variable
// set and long enough), a JWKS URL must be https (http only on loopback),
// and a route must name a provider that exists. Messages name the key,
// never its material.
import { isIP } from 'node:net';
import type { Issue } from '../../../config/errors.js';
import type { MethodCheck } from '../check.js';
import { localKey } from './keys.js';
import type { JwtRouteConfig, JwtSectionConfig } from './schema.js';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function checkUrl(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (u.username !== '' || u.password !== '') return 'no credentials in the URL';
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && (LOOPBACK.has(u.hostname) || (isIP(u.hostname) === 4 && u.hostname.startsWith('127.')))) return null;
  return 'must be https (http only on a loopback address)';
}

export const jwtCheck: MethodCheck = {
  section(section, at, configDir, issues: Issue[]) {
    const s = section as JwtSectionConfig;
    for (const [name, p] of Object.entries(s.providers ?? {})) {
      const here = [...at, 'providers', name];
      if (p.keys === undefined && p.jwksUrl === undefined) issues.push({ at: here, message: 'a provider needs keys, a jwksUrl, or both' });
      if (p.jwksUrl !== undefined) {
        const bad = checkUrl(p.jwksUrl);
        if (bad !== null) issues.push({ at: [...here, 'jwksUrl'], message: bad });
      }
      if ((p.minTtlSeconds ?? 60) > (p.maxTtlSeconds ?? 3600)) issues.push({ at: [...here, 'minTtlSeconds'], message: 'minTtlSeconds is above maxTtlSeconds' });
      (p.keys ?? []).forEach((k, i) => {
        try {
          localKey(k, configDir, process.env, p.algorithms);
        } catch (err) {
          issues.push({ at: [...here, 'keys', i], message: (err as Error).message });
        }
      });
    }
  },
  route(settings, section, at, issues) {
    const r = settings as JwtRouteConfig;
    const providers = (section as JwtSectionConfig | undefined)?.providers ?? {};
    if (typeof r?.provider === 'string' && !Object.hasOwn(providers, r.provider)) {
      issues.push({ at: [...at, 'provider'], message: `no provider "${r.provider}" in auth.jwt.providers` });
    }
  },
};
