// htpasswd-style user files for basic auth (docs/ARCHITECTURE.md "Identity"):
// `user:hash` or `user:hash:role1,role2`, one user a line, `#` comments and
// blank lines skipped. Only slow, salted hashes are accepted (bcrypt, argon2id,
// argon2i); MD5-crypt, SHA1, crypt and plaintext are refused with the line
// number, so a weak file never goes live. Messages never quote a hash.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface HtpasswdUser {
  readonly hash: string;
  readonly roles: readonly string[];
}

export interface Htpasswd {
  readonly users: ReadonlyMap<string, HtpasswdUser>;
}

export interface HtpasswdError {
  /** 1-based line of the file. */
  readonly line: number;
  readonly message: string;
}

/** Costs above these make one check take seconds: a config mistake that would stall every login. */
export const MAX_BCRYPT_COST = 16;
export const MAX_ARGON2_MEMORY_KIB = 262_144;
export const MAX_ARGON2_TIME = 16;

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const ARGON2 = /^\$argon2(?:id|i)\$v=(?:16|19)\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$[A-Za-z0-9+/]{8,}\$[A-Za-z0-9+/]{16,}$/;
/** A user name: no colon (RFC 7617), no control bytes, no spaces at the ends. */
const USER = /^[^:\x00-\x1f\x7f\s](?:[^:\x00-\x1f\x7f]*[^:\x00-\x1f\x7f\s])?$/;
const ROLE = /^[^\s,:\x00-\x1f\x7f]+$/;

/** Why a hash is not accepted (null: it is). */
export function hashError(hash: string): string | null {
  const b = BCRYPT.exec(hash);
  if (b !== null) {
    const cost = Number(b[1]);
    if (cost < 4) return `bcrypt cost ${cost} is below the minimum 4`;
    if (cost > MAX_BCRYPT_COST) return `bcrypt cost ${cost} is above ${MAX_BCRYPT_COST} (each check would take seconds)`;
    return null;
  }
  const a = ARGON2.exec(hash);
  if (a !== null) {
    const [m, t, p] = [Number(a[1]), Number(a[2]), Number(a[3])];
    if (m > MAX_ARGON2_MEMORY_KIB) return `argon2 memory m=${m} KiB is above ${MAX_ARGON2_MEMORY_KIB}`;
    if (t < 1 || t > MAX_ARGON2_TIME) return `argon2 time cost t=${t} is outside 1..${MAX_ARGON2_TIME}`;
    if (p < 1) return 'argon2 parallelism p must be at least 1';
    return null;
  }
  if (hash.startsWith('$apr1$') || hash.startsWith('$1$')) return 'MD5-crypt hashes are not accepted: use bcrypt (htpasswd -B) or argon2';
  if (hash.startsWith('{SHA}')) return 'SHA1 hashes are not accepted: use bcrypt (htpasswd -B) or argon2';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'SHA-crypt hashes are not accepted: use bcrypt (htpasswd -B) or argon2';
  if (hash.startsWith('$argon2d$')) return 'argon2d is not accepted for passwords: use argon2id';
  if (hash.startsWith('$2') || hash.startsWith('$argon2')) return 'malformed bcrypt or argon2 hash';
  return 'not a bcrypt ($2a$/$2b$/$2y$) or argon2 ($argon2id$/$argon2i$) hash (plaintext and crypt are not accepted)';
}

export function parseHtpasswd(text: string): { users: Map<string, HtpasswdUser>; errors: HtpasswdError[] } {
  const users = new Map<string, HtpasswdUser>();
  const errors: HtpasswdError[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const n = i + 1;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const fields = line.split(':');
    if (fields.length < 2 || fields.length > 3) {
      errors.push({ line: n, message: 'expected user:hash or user:hash:role,role' });
      return;
    }
    const [user, hash, roleField] = fields as [string, string, string | undefined];
    if (!USER.test(user)) {
      errors.push({ line: n, message: 'user name is empty, or has control bytes or spaces at its ends' });
      return;
    }
    if (users.has(user)) {
      errors.push({ line: n, message: `user "${user}" is listed twice` });
      return;
    }
    const bad = hashError(hash);
    if (bad !== null) {
      errors.push({ line: n, message: bad });
      return;
    }
    const roles = roleField === undefined || roleField === '' ? [] : roleField.split(',');
    if (!roles.every((r) => ROLE.test(r))) {
      errors.push({ line: n, message: 'roles must be a comma-separated list of names without spaces' });
      return;
    }
    users.set(user, { hash, roles: [...new Set(roles)] });
  });
  return { users, errors };
}

/** Reads and parses a realm's file; throws an Error naming the file (and line) on any problem. */
export function loadHtpasswd(path: string, configDir: string): Htpasswd & { readonly text: string; readonly file: string } {
  const file = resolve(configDir, path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const { users, errors } = parseHtpasswd(text);
  if (errors.length > 0) throw new Error(errors.map((e) => `${file}: line ${e.line}: ${e.message}`).join('; '));
  return { users, text, file };
}
