// WICKET_* environment overrides: parsed and validated on their own so a bad
// value is reported next to the file's errors, then applied over the file.
import type { Issue } from './errors.js';
import { LogLevels, type LogLevelName } from './schema.js';

export interface EnvOverrides {
  workers?: number;
  httpHost?: string;
  httpPort?: number;
  adminHost?: string;
  adminPort?: number;
  logLevel?: LogLevelName;
  accessLog?: boolean;
}

type Env = Record<string, string | undefined>;

const BOOLEANS: Record<string, boolean> = { on: true, true: true, '1': true, off: false, false: false, '0': false };

function int(raw: string, min: number, max: number): number | string {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : `must be an integer from ${min} to ${max}, got "${raw}"`;
}

export function readEnvOverrides(env: Env): { overrides: EnvOverrides; issues: Issue[] } {
  const overrides: EnvOverrides = {};
  const issues: Issue[] = [];
  // An empty variable counts as unset (e.g. `WICKET_WORKERS=` in a compose file).
  const get = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]!.trim());
  const fail = (name: string, message: string) => issues.push({ at: ['env', name], message });

  const num = (name: string, min: number, max: number, set: (n: number) => void) => {
    const raw = get(name);
    if (raw === undefined) return;
    const r = int(raw, min, max);
    if (typeof r === 'string') fail(name, r);
    else set(r);
  };
  const host = (name: string, set: (s: string) => void) => {
    const raw = get(name);
    if (raw === undefined) return;
    if (/\s/.test(raw)) fail(name, `must be a host name or address, got "${raw}"`);
    else set(raw);
  };

  num('WICKET_WORKERS', 1, 256, (n) => (overrides.workers = n));
  host('WICKET_HTTP_HOST', (s) => (overrides.httpHost = s));
  num('WICKET_HTTP_PORT', 1, 65535, (n) => (overrides.httpPort = n));
  host('WICKET_ADMIN_HOST', (s) => (overrides.adminHost = s));
  num('WICKET_ADMIN_PORT', 1, 65535, (n) => (overrides.adminPort = n));

  const level = get('WICKET_LOG_LEVEL');
  if (level !== undefined) {
    const l = level.toLowerCase();
    if ((LogLevels as readonly string[]).includes(l)) overrides.logLevel = l as LogLevelName;
    else fail('WICKET_LOG_LEVEL', `must be one of ${LogLevels.join(', ')}, got "${level}"`);
  }

  const access = get('WICKET_ACCESS_LOG');
  if (access !== undefined) {
    const key = access.toLowerCase();
    if (!Object.hasOwn(BOOLEANS, key)) fail('WICKET_ACCESS_LOG', `must be one of on, off, true, false, 1, 0, got "${access}"`);
    else overrides.accessLog = BOOLEANS[key];
  }
  return { overrides, issues };
}
