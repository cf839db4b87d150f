// Reading `Authorization: Basic <base64(user:password)>` (RFC 7617), strictly:
// the scheme is case-insensitive, the token is padded standard base64, the
// decoded text is UTF-8 (we announce charset="UTF-8") with a colon and no
// control bytes. Anything else under the Basic scheme is malformed (401).
export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

/** Longer tokens are refused before decoding (the header limits allow far more). */
const MAX_TOKEN = 4096;
const TOKEN = /^[A-Za-z0-9+/]+={0,2}$/;
const CTL = /[\x00-\x1f\x7f]/;
/** fatal: bytes that are not UTF-8 throw rather than turn into U+FFFD. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** null: no Basic credentials (no header, or another scheme); 'malformed': Basic, but unreadable. */
export function parseBasic(header: string | undefined): BasicCredentials | 'malformed' | null {
  if (header === undefined) return null;
  const h = header.trim();
  const sp = h.indexOf(' ');
  const scheme = sp === -1 ? h : h.slice(0, sp);
  if (scheme.toLowerCase() !== 'basic') return null;
  const token = sp === -1 ? '' : h.slice(sp + 1).trim();
  if (token.length === 0 || token.length > MAX_TOKEN || token.length % 4 !== 0 || !TOKEN.test(token)) return 'malformed';
  const bytes = Buffer.from(token, 'base64');
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return 'malformed';
  }
  const colon = text.indexOf(':');
  if (colon <= 0 || CTL.test(text)) return 'malformed';
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
