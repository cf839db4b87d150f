// Load-time checks of the apiKey settings (a bad config is refused whole,
// with the path): the hash secret is in the environment, exactly one store,
// a store file that can be read (or made), and routes that have the section.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Issue } from '../../../config/errors.js';
import type { MethodCheck } from '../check.js';
import { readStoreFile } from './file-store.js';
import { readSecret } from './keys.js';
import type { ApiKeySectionConfig } from './schema.js';

export const apiKeyCheck: MethodCheck = {
  route(_settings, section, at, issues) {
    if (section === undefined) issues.push({ at, message: 'apiKey needs the top-level auth.apiKey section (its key store)' });
  },
  section(section, at, configDir, issues: Issue[]) {
    const s = section as ApiKeySectionConfig;
    if (typeof s?.hashSecretEnv === 'string') {
      const secret = readSecret(s);
      if (typeof secret === 'string') issues.push({ at: [...at, 'hashSecretEnv'], message: secret });
    }
    if ((s.file === undefined) === (s.redis === undefined)) {
      issues.push({ at, message: 'exactly one key store: file or redis' });
      return;
    }
    if (typeof s.file !== 'string') return;
    const path = resolve(configDir, s.file);
    try {
      readStoreFile(path);
      const dir = dirname(path);
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
      accessSync(dir, constants.W_OK); // the store is rewritten by rename in its folder
    } catch (err) {
      issues.push({ at: [...at, 'file'], message: (err as Error).message });
    }
  },
};
