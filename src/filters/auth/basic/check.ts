// Load-time checks of the basic method (run in the supervisor before any
// worker sees the config): every realm's htpasswd file must be readable and
// parse (the file and line in the message), and a route's realm must exist.
import type { Issue } from '../../../config/errors.js';
import type { MethodCheck } from '../check.js';
import { loadHtpasswd } from './htpasswd.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

export const basicCheck: MethodCheck = {
  section(section, at, configDir, issues: Issue[]) {
    if (!isObj(section) || !isObj(section.realms)) return;
    for (const [name, realm] of Object.entries(section.realms)) {
      if (!isObj(realm) || typeof realm.htpasswd !== 'string' || realm.htpasswd === '') continue;
      try {
        loadHtpasswd(realm.htpasswd, configDir);
      } catch (err) {
        issues.push({ at: [...at, 'realms', name, 'htpasswd'], message: (err as Error).message });
      }
    }
  },
  route(settings, section, at, issues) {
    if (!isObj(settings) || typeof settings.realm !== 'string') return;
    const realms = isObj(section) && isObj(section.realms) ? Object.keys(section.realms) : null;
    if (realms === null) issues.push({ at: [...at, 'realm'], message: 'basic auth needs the top-level auth.basic.realms' });
    else if (!realms.includes(settings.realm)) {
      issues.push({ at: [...at, 'realm'], message: `unknown realm "${settings.realm}" (auth.basic.realms has: ${realms.join(', ') || 'none'})` });
    }
  },
};
