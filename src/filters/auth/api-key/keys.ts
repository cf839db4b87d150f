// API keys themselves: how they are made and how they are stored (a keyed
// hash, never the key). Used by the supervisor (issuing keys) and by every
// worker (checking them), so both read the secret the same way.
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { ApiKeySectionConfig } from './schema.js';

export const DEFAULT_PREFIX = 'wk_live_';
export const DEFAULT_GRACE_SECONDS = 3600;
export const DEFAULT_REPORT_SECONDS = 5;
export const DEFAULT_REDIS_PREFIX = 'wicket:{apikey}:';
/** Bytes of the hash secret, at least (an HMAC key shorter than the digest weakens it). */
export const MIN_SECRET_BYTES = 32;
/** Longer than any key we issue: such a header is refused without hashing it. */
export const MAX_KEY_LENGTH = 256;

/** The hash secret from the environment, or why it cannot be used (never the value). */
export function readSecret(section: ApiKeySectionConfig, env: NodeJS.ProcessEnv = process.env): KeyObject | string {
  const v = env[section.hashSecretEnv];
  if (v === undefined || v === '') return `the environment variable ${section.hashSecretEnv} is not set (the API-key hash secret)`;
  if (Buffer.byteLength(v) < MIN_SECRET_BYTES) return `the environment variable ${section.hashSecretEnv} holds fewer than ${MIN_SECRET_BYTES} bytes`;
  return createSecretKey(Buffer.from(v, 'utf8'));
}

/** HMAC-SHA256 of the whole key, base64url: what stores and worker tables hold. */
export function hashKey(secret: KeyObject, key: string): string {
  return createHmac('sha256', secret).update(key).digest('base64url');
}

export interface NewKey {
  /** Public: names the key in lists and admin paths. */
  readonly id: string;
  /** `prefix` + id: recognisable in logs and lists without the secret part. */
  readonly shown: string;
  /** The key itself: returned once, never stored. */
  readonly key: string;
}

/** A fresh key: prefix, a 12-hex-digit id, '_', 32 random bytes in base64url (256 bits of entropy). */
export function newKey(prefix: string): NewKey {
  const id = randomBytes(6).toString('hex');
  const shown = `${prefix}${id}`;
  return { id, shown, key: `${shown}_${randomBytes(32).toString('base64url')}` };
}
