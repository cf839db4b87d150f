// Verification keys and the algorithms each may verify. A key's algorithms
// come from its type (RSA: RS*/PS*, EC: the ES* of its curve, Ed25519: EdDSA,
// an HMAC secret: HS*), narrowed by its own alg and the provider's list: a
// token is only checked with a key whose type fits the token's alg, so an RSA
// public key can never be used as an HMAC secret. Used on both sides: the
// supervisor (load checks, what a JWKS holds) and workers (verification).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Algorithm, LocalKeyConfig } from './schema.js';

export interface KeyEntry {
  /** undefined: the key has no id (it serves tokens without kid). */
  readonly kid: string | undefined;
  readonly key: KeyObject | Uint8Array;
  readonly algs: ReadonlySet<string>;
}

const RSA: Algorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_CURVES: Readonly<Record<string, Algorithm>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
/** RFC 7518 3.2: an HMAC key at least as long as the hash output. */
const HMAC_MIN: readonly [Algorithm, number][] = [
  ['HS256', 32],
  ['HS384', 48],
  ['HS512', 64],
];
export const MIN_SECRET_BYTES = 32;

/** The algorithms a public key's type allows (empty: a type the method does not verify). */
function publicKeyAlgs(k: KeyObject): Algorithm[] {
  switch (k.asymmetricKeyType) {
    case 'rsa':
      // jose refuses RSA keys under 2048 bits; say so when the key is loaded rather than per token.
      return (k.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? RSA : [];
    case 'ec': {
      const a = EC_CURVES[k.asymmetricKeyDetails?.namedCurve ?? ''];
      return a === undefined ? [] : [a];
    }
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

function narrow(fit: readonly Algorithm[], own: string | undefined, allowed: readonly string[] | undefined): Set<string> {
  return new Set(fit.filter((a) => (own === undefined || a === own) && (allowed === undefined || allowed.includes(a))));
}

function entry(kid: string | undefined, key: KeyObject | Uint8Array, fit: readonly Algorithm[], own: string | undefined, allowed: readonly string[] | undefined, what: string): KeyEntry {
  if (fit.length === 0) throw new Error(`${what}: a key type the method does not verify (RSA of 2048 bits or more, EC P-256/384/521, Ed25519, HMAC)`);
  if (own !== undefined && !fit.includes(own as Algorithm)) throw new Error(`${what}: alg ${own} does not fit the key's type (${fit.join(', ')})`);
  const algs = narrow(fit, own, allowed);
  if (algs.size === 0) throw new Error(`${what}: fits none of the provider's algorithms (the key fits ${fit.join(', ')})`);
  return { kid, key, algs };
}

const PRIVATE_JWK = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth', 'priv'];

/** A public JWK as a key (throws, without echoing key material, when it is not one). */
export function jwkKey(jwk: Record<string, unknown>, allowed: readonly string[] | undefined, what = 'jwk'): KeyEntry {
  if (jwk.kty === 'oct') throw new Error(`${what}: a symmetric (oct) key: HMAC secrets come from secretEnv, never from a JWK`);
  if (PRIVATE_JWK.some((p) => jwk[p] !== undefined)) throw new Error(`${what}: holds private key material: give only the public key`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`${what}: use is ${String(jwk.use)}, not sig`);
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) throw new Error(`${what}: key_ops without verify`);
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid === '')) throw new Error(`${what}: kid must be a non-empty string`);
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') throw new Error(`${what}: alg must be a string`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch {
    throw new Error(`${what}: not a usable public JWK`);
  }
  return entry(jwk.kid as string | undefined, key, publicKeyAlgs(key), jwk.alg as string | undefined, allowed, what);
}

function pemKey(pem: string, what: string): KeyObject {
  if (/PRIVATE KEY/.test(pem)) throw new Error(`${what}: a private key: give only the public key`);
  try {
    return createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error(`${what}: not a PEM public key`);
  }
}

/** A key of the config (throws with a message naming the key, never its material). */
export function localKey(cfg: LocalKeyConfig, configDir: string, env: NodeJS.ProcessEnv, allowed: readonly string[] | undefined): KeyEntry {
  const given = (['pem', 'pemFile', 'jwk', 'secretEnv'] as const).filter((k) => cfg[k] !== undefined);
  if (given.length !== 1) throw new Error(`give exactly one of pem, pemFile, jwk, secretEnv (got ${given.join(', ') || 'none'})`);
  if (cfg.jwk !== undefined) {
    if (cfg.kid !== undefined && cfg.jwk.kid !== undefined && cfg.jwk.kid !== cfg.kid) throw new Error('kid differs from the jwk kid');
    const e = jwkKey({ ...cfg.jwk, ...(cfg.kid === undefined ? {} : { kid: cfg.kid }), ...(cfg.alg === undefined ? {} : { alg: cfg.alg }) }, allowed);
    return e;
  }
  if (cfg.secretEnv !== undefined) {
    const raw = env[cfg.secretEnv];
    if (raw === undefined || raw === '') throw new Error(`environment variable ${cfg.secretEnv} is not set`);
    const secret = new Uint8Array(Buffer.from(raw, 'utf8'));
    if (secret.length < MIN_SECRET_BYTES) throw new Error(`the secret in ${cfg.secretEnv} is shorter than ${MIN_SECRET_BYTES} bytes`);
    const fit = HMAC_MIN.filter(([, n]) => secret.length >= n).map(([a]) => a);
    return entry(cfg.kid, secret, fit, cfg.alg, allowed, `secretEnv ${cfg.secretEnv}`);
  }
  let pem: string;
  if (cfg.pemFile !== undefined) {
    try {
      pem = readFileSync(resolve(configDir, cfg.pemFile), 'utf8');
    } catch (err) {
      throw new Error(`pemFile ${cfg.pemFile}: ${(err as NodeJS.ErrnoException).code ?? 'cannot be read'}`);
    }
  } else pem = cfg.pem!;
  const what = cfg.pemFile !== undefined ? `pemFile ${cfg.pemFile}` : 'pem';
  const key = pemKey(pem, what);
  return entry(cfg.kid, key, publicKeyAlgs(key), cfg.alg, allowed, what);
}

/** What a JWKS document holds: its usable keys, and why the others were left out. */
export interface JwksKeys {
  readonly keys: Record<string, unknown>[];
  readonly skipped: string[];
}

/** Reads a JWKS document (throws when it is not one); keys this method cannot use are skipped, not fatal. */
export function jwksKeys(doc: unknown, allowed: readonly string[] | undefined): JwksKeys {
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as { keys?: unknown }).keys)) throw new Error('not a JWKS document (no keys array)');
  const keys: Record<string, unknown>[] = [];
  const skipped: string[] = [];
  for (const [i, k] of ((doc as { keys: unknown[] }).keys).entries()) {
    if (k === null || typeof k !== 'object' || Array.isArray(k)) {
      skipped.push(`keys[${i}]: not an object`);
      continue;
    }
    // The public members only: a JWKS that leaks private parts is not copied around.
    const pub = Object.fromEntries(Object.entries(k as Record<string, unknown>).filter(([name]) => !PRIVATE_JWK.includes(name) || (k as { kty?: unknown }).kty === 'oct'));
    try {
      jwkKey(pub, allowed, `keys[${i}]`);
      keys.push(pub);
    } catch (err) {
      skipped.push((err as Error).message);
    }
  }
  return { keys, skipped };
}

