// Loads our native addon (native/shm.cc, built by node-gyp at `npm install`).
// A missing or broken build is a clear start-up error, never a fallback.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export interface ShmAddon {
  /** New zero-filled object; throws code EEXIST when the name is taken. */
  create(name: string, bytes: number): SharedArrayBuffer;
  /** Maps an existing object whole; throws code ENOENT when it is gone. */
  attach(name: string): SharedArrayBuffer;
  /** False when there was nothing to unlink. */
  unlink(name: string): boolean;
}

export class AddonMissingError extends Error {
  readonly code = 'WICKET_ERR_SHM_ADDON';
}

// dist/src/state/addon.js -> <package root>/build/Release/wicket_shm.node
const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
export const ADDON_PATH = join(ROOT, 'build', 'Release', 'wicket_shm.node');

let cached: ShmAddon | null = null;

export function loadAddon(path = ADDON_PATH): ShmAddon {
  if (cached !== null && path === ADDON_PATH) return cached;
  let mod: ShmAddon;
  try {
    mod = createRequire(import.meta.url)(path) as ShmAddon;
  } catch (err) {
    throw new AddonMissingError(
      `the shared-memory addon could not be loaded from ${path} (${(err as Error).message.split('\n')[0]}). ` +
        'It is built by `npm install` (node-gyp): install python3, make, g++ and the Node headers, then run `npm rebuild`.',
    );
  }
  if (path === ADDON_PATH) cached = mod;
  return mod;
}
