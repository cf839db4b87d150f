// The session and login-transaction cookies: JWE (dir, A256GCM) under a key
// derived from the operator's secret, so the browser holds the session but
// can neither read nor change it. A cookie that fails to decrypt, or whose
// time is up, is no session.
import { createHash } from 'node:crypto';
import { EncryptJWT, jwtDecrypt, type JWTPayload } from 'jose';

export class SealedCookies {
  readonly #key: Uint8Array;

  constructor(secret: string) {
    // SHA-256 of the secret: a 32-byte key whatever the secret's encoding.
    this.#key = createHash('sha256').update(secret).digest();
  }

  seal(payload: JWTPayload, ttlSeconds: number): Promise<string> {
    return new EncryptJWT(payload).setProtectedHeader({ alg: 'dir', enc: 'A256GCM' }).setIssuedAt().setExpirationTime(`${ttlSeconds}s`).encrypt(this.#key);
  }

  /** null: absent, tampered, expired or from another key. */
  async open(value: string | undefined): Promise<JWTPayload | null> {
    if (value === undefined || value === '') return null;
    try {
      return (await jwtDecrypt(value, this.#key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] })).payload;
    } catch {
      return null;
    }
  }
}

/** A cookie's value from a Cookie header (RFC 6265 §5.4: `name=value; ...`). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Cookie header without `name` (undefined when nothing is left). */
export function withoutCookie(header: string, name: string): string | undefined {
  const kept = header.split(';').filter((part) => {
    const eq = part.indexOf('=');
    return !(eq > 0 && part.slice(0, eq).trim() === name);
  });
  const out = kept.map((p) => p.trim()).filter((p) => p !== '').join('; ');
  return out === '' ? undefined : out;
}

export function setCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}
