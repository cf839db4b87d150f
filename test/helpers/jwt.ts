// Real JWTs for tests: key pairs made and tokens signed by jose, a JWKS
// server on loopback (node:http) whose sets can be changed, counted and
// taken down, and forged tokens (alg none, HMAC with a public key, ...).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface SigningKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey | Uint8Array;
  /** Public JWK with kid and alg (what a JWKS serves). */
  readonly jwk: JWK;
  readonly spki: string;
}

export async function signingKey(alg: string, kid: string): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg.startsWith('RS') || alg.startsWith('PS') ? { modulusLength: 2048 } : {}) });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, jwk, spki: await exportSPKI(publicKey) };
}

export function hmacKey(secret: string, kid: string, alg = 'HS256'): SigningKey {
  return { alg, kid, privateKey: new TextEncoder().encode(secret), jwk: {}, spki: '' };
}

export const nowS = (): number => Math.floor(Date.now() / 1000);

/** A token signed by `key`; header extras (kid override, jku, ...) merged into the protected header. */
export function sign(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const h = { alg: key.alg, kid: key.kid, ...header };
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k as keyof typeof h];
  return new SignJWT({ exp: nowS() + 600, ...claims }).setProtectedHeader(h as { alg: string }).sign(key.privateKey);
}

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** alg none: header.payload. (empty signature). */
export function unsecured(claims: JWTPayload, header: Record<string, unknown> = {}): string {
  return `${b64({ alg: 'none', ...header })}.${b64({ exp: nowS() + 600, ...claims })}.`;
}

/** HMAC-signed by hand with any bytes as the secret (the "public key as HMAC secret" attack). */
export function hmacWith(secret: string | Buffer, claims: JWTPayload, header: Record<string, unknown>): string {
  const input = `${b64({ alg: 'HS256', ...header })}.${b64({ exp: nowS() + 600, ...claims })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface JwksServer {
  readonly origin: string;
  url(path: string): string;
  set(path: string, keys: JWK[], cacheControl?: string): void;
  hits(path: string): number;
  /** Answers 503 on this path. */
  fail(path: string, on: boolean): void;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const sets = new Map<string, { keys: JWK[]; cacheControl: string | undefined }>();
  const hits = new Map<string, number>();
  const failing = new Set<string>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const s = sets.get(path);
    if (failing.has(path) || s === undefined) {
      res.writeHead(failing.has(path) ? 503 : 404);
      return res.end();
    }
    const body = JSON.stringify({ keys: s.keys });
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', ...(s.cacheControl === undefined ? {} : { 'cache-control': s.cacheControl }) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: (p) => `${origin}${p}`,
    set: (p, keys, cacheControl) => void sets.set(p, { keys, cacheControl }),
    hits: (p) => hits.get(p) ?? 0,
    fail: (p, on) => void (on ? failing.add(p) : failing.delete(p)),
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
