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

export function setCookie(name: string, value: string, maxAgeSeconds: number, secure: boolean): string {
  return `${name}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}
