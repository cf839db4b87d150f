// Config checks for auth the schema cannot express (run at load, so a bad
// auth config is refused whole with its path, before any worker sees it):
// conditions that must compile, RBAC without a role table, and each method's
// own references (a provider that exists, a file that can be read).
import type { Issue } from '../../config/errors.js';
import { compileCondition } from './authorize.js';
import { basicCheck } from './basic/check.js';
import type { ConditionConfig } from './schema.js';
import { introspectionCheck } from './introspection/check.js';
import { oidcCheck } from './oidc/check.js';
import { jwtCheck } from './jwt/check.js';
import { apiKeyCheck } from './api-key/check.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
type At = (string | number)[];

/** A method's checks: its route settings against the shared section, and the section itself. */
export interface MethodCheck {
  route?(settings: unknown, section: unknown, at: At, issues: Issue[]): void;
  section?(section: unknown, at: At, configDir: string, issues: Issue[]): void;
}

/** Method key -> its checks (one line per method that has any). */
const METHOD_CHECKS: Readonly<Record<string, MethodCheck>> = {
  introspection: introspectionCheck,
  oidc: oidcCheck,
  jwt: jwtCheck,
  basic: basicCheck,
  apiKey: apiKeyCheck,
};

function checkRequirement(r: unknown, at: At, haveRoles: boolean, issues: Issue[]): void {
  if (!isObj(r)) return;
  if (Array.isArray(r.when)) {
    r.when.forEach((c, n) => {
      if (!isObj(c)) return;
      try {
        compileCondition(c as ConditionConfig);
      } catch (err) {
        issues.push({ at: [...at, 'when', n], message: (err as Error).message });
      }
    });
  }
  if (r.rbac === true && !haveRoles) issues.push({ at: [...at, 'rbac'], message: 'rbac: true needs the top-level auth.roles table' });
}

export function checkAuth(root: Obj, configDir: string): Issue[] {
  const issues: Issue[] = [];
  const section = isObj(root.auth) ? root.auth : {};
  for (const [key, c] of Object.entries(METHOD_CHECKS)) if (section[key] !== undefined) c.section?.(section[key], ['auth', key], configDir, issues);
  if (!Array.isArray(root.routes)) return issues;
  root.routes.forEach((route, i) => {
    if (!isObj(route) || !isObj(route.auth)) return;
    const auth = route.auth;
    const at: At = ['routes', i, 'auth'];
    if (Array.isArray(auth.methods)) {
      auth.methods.forEach((m, n) => {
        for (const [key, settings] of Object.entries(isObj(m) ? m : {})) METHOD_CHECKS[key]?.route?.(settings, section[key], [...at, 'methods', n, key], issues);
      });
    }
    const haveRoles = isObj(section.roles);
    checkRequirement(auth.require, [...at, 'require'], haveRoles, issues);
    for (const [method, r] of Object.entries(isObj(auth.methodRequire) ? auth.methodRequire : {})) checkRequirement(r, [...at, 'methodRequire', method], haveRoles, issues);
  });
  return issues;
}
