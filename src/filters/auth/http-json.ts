// Calls auth methods make to identity providers (introspection, OIDC token
// and discovery endpoints): bounded in time and size, JSON back. A 4xx is a
// refusal (the provider answered and said no), anything else that fails is
// the provider being away: callers answer 401 for one and 503 for the other.
import { request } from 'undici';

/** The provider answered 4xx (or answered nonsense): a refusal, not an outage. */
export class ProviderRefused extends Error {}

/** RFC 6749 §2.3.1: client id and secret form-encoded, then HTTP Basic. */
export function clientSecretBasic(id: string, secret: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

export interface JsonCall {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Sent as the Authorization header (client authentication). */
  readonly authorization?: string;
  /** A form body: the call is a POST. */
  readonly form?: URLSearchParams;
}

export async function callJson(url: string, c: JsonCall): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (c.authorization !== undefined) headers.authorization = c.authorization;
  if (c.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await request(url, {
    method: c.form === undefined ? 'GET' : 'POST',
    headers,
    body: c.form?.toString(),
    headersTimeout: c.timeoutMs,
    bodyTimeout: c.timeoutMs,
    signal: AbortSignal.timeout(c.timeoutMs),
  });
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > c.maxBytes) throw new Error('answer too large');
    chunks.push(chunk);
  }
  // The provider's error text is not passed on (it may echo what it was sent).
  if (res.statusCode >= 400 && res.statusCode < 500) throw new ProviderRefused(`provider answered ${res.statusCode}`);
  if (res.statusCode !== 200) throw new Error(`provider answered ${res.statusCode}`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ProviderRefused('the answer is not JSON');
  }
}
