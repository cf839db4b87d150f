// Request-target normalization (RFC 3986 §6.2.2). The router matches the
// returned path and the same string is forwarded, so the upstream never sees
// a path the router did not: /h2c/%66lag and /public/%2e%2e/admin are routed
// as /h2c/flag and /admin, not let through to an upstream that decodes them.

/** How %2F / %5C (encoded slash and backslash) and a literal backslash are treated: a per-gateway choice. */
export type EncodedSlashes = 'keep' | 'decode' | 'reject';

// Whatever may need work: a char other than a raw pchar (RFC 3986 §3.3) or
// '/' ('%', '\', '#' among them), a dot segment, an empty segment. One
// search, no allocation; a path without any is already normal.
const WORK = /[^A-Za-z0-9\-._~!$&'()*+,;=:@[\]/]|\/[./]/;

// What a raw ASCII char does. COPY is the default: pchars, and '[' / ']',
// which servers take raw although §3.3 does not list them.
const COPY = 0, BAD = 1, ENCODE = 2, PERCENT = 3, SLASH = 4, BACKSLASH = 5;
const CLASS = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) CLASS[c] = BAD;
CLASS[0x7f] = BAD;
// Not allowed raw in a path (§2, §3.3). '?' too: raw, it would end the path upstream.
for (const ch of ' "<>^`{|}?') CLASS[ch.charCodeAt(0)] = ENCODE;
CLASS[0x25] = PERCENT;
CLASS[0x2f] = SLASH;
CLASS[0x5c] = BACKSLASH;

// §2.3: percent-encoded unreserved chars are equivalent to the chars themselves.
const UNRESERVED = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[ch.charCodeAt(0)] = 1;

// §6.2.2.1: upper-case hex.
const HEX = '0123456789ABCDEF';
const PCT: string[] = [];
for (let b = 0; b < 256; b++) PCT.push('%' + HEX[b >> 4]! + HEX[b & 15]!);

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  c |= 0x20; // lower-case a letter
  return c >= 97 && c <= 102 ? c - 87 : -1;
}

/** The normalized path, or null when the target is not acceptable (the caller answers 400). */
export function normalizePath(raw: string, slashes: EncodedSlashes = 'keep'): string | null {
  if (raw.charCodeAt(0) !== 47 /* / */) return null; // origin-form only (RFC 9112 §3.2.1)
  if (!WORK.test(raw)) return raw;
  // A fragment is never part of a request target (RFC 9110 §7.1); clients should not send one.
  const hash = raw.indexOf('#');
  return resolve(raw, hash === -1 ? raw.length : hash, slashes);
}

/**
 * One pass over raw[1, end): percent-encodings normalized, chars that may not
 * appear raw encoded, then segments resolved as §5.2.4 removes dot segments.
 * Empty segments are dropped too: '//' is one '/'.
 */
function resolve(raw: string, end: number, slashes: EncodedSlashes): string | null {
  const segs: string[] = [];
  let trailingSlash = false;
  let seg = ''; // the current segment, up to `run`
  let run = 1; // raw[run, i) is copied as it is
  let i = 1;
  while (i <= end) {
    const c = i === end ? 47 : raw.charCodeAt(i); // the end closes the last segment
    let next = i + 1;
    let put = ''; // what raw[i, next) becomes
    let sep = false;
    switch (c < 128 ? CLASS[c] : ENCODE) {
      case COPY:
        i = next;
        continue;
      case BAD:
        return null;
      case SLASH:
        sep = true;
        break;
      case BACKSLASH:
        if (slashes === 'reject') return null;
        if (slashes === 'decode') sep = true;
        else put = '%5C';
        break;
      case PERCENT: {
        if (i + 2 >= end) return null;
        const c1 = raw.charCodeAt(i + 1);
        const c2 = raw.charCodeAt(i + 2);
        const hi = hexValue(c1);
        const lo = hexValue(c2);
        if (hi < 0 || lo < 0) return null;
        const b = (hi << 4) | lo;
        next = i + 3;
        if (b === 0) return null; // a NUL byte has no business in a path
        if (b === 0x2f || b === 0x5c) {
          if (slashes === 'reject') return null;
          if (slashes === 'decode') sep = true;
          else put = PCT[b]!; // data, not a separator (§2.2)
        } else if (b < 128 && UNRESERVED[b] === 1) put = String.fromCharCode(b);
        else if (c1 < 97 && c2 < 97) {
          i = next; // already upper-case: copied as it is
          continue;
        } else put = PCT[b]!;
        break;
      }
      default: // ENCODE, and every char above 0x7e
        if (c < 128) put = PCT[c]!;
        else {
          const cp = raw.codePointAt(i)!;
          if (cp >= 0xd800 && cp <= 0xdfff) return null; // a lone surrogate is no text
          if (cp > 0xffff) next = i + 2;
          put = utf8(cp);
        }
    }
    seg += raw.slice(run, i);
    run = next;
    if (!sep) {
      seg += put;
      i = next;
      continue;
    }
    const last = i === end;
    if (seg === '..') segs.pop();
    else if (seg !== '.' && seg !== '') segs.push(seg);
    // '/a/', '/a/.' and '/a/b/..' all end in a slash: a directory (§5.2.4).
    trailingSlash = last && (seg === '..' || seg === '.' || seg === '');
    seg = '';
    i = next;
  }
  if (segs.length === 0) return '/';
  const out = '/' + segs.join('/');
  return trailingSlash ? out + '/' : out;
}

// Percent-encoded UTF-8 bytes of a code point. The string is read as text:
// uWS's getUrl decodes the target's bytes as UTF-8, route literals in the
// config are text, and upstreams read %XX as UTF-8. node:http2 hands :path
// over as latin1 instead, so there a raw non-ASCII byte (never valid in a
// target, RFC 3986 §2) names another path; router and upstream still agree.
function utf8(cp: number): string {
  if (cp < 0x800) return PCT[0xc0 | (cp >> 6)]! + PCT[0x80 | (cp & 63)]!;
  if (cp < 0x10000) return PCT[0xe0 | (cp >> 12)]! + PCT[0x80 | ((cp >> 6) & 63)]! + PCT[0x80 | (cp & 63)]!;
  return PCT[0xf0 | (cp >> 18)]! + PCT[0x80 | ((cp >> 12) & 63)]! + PCT[0x80 | ((cp >> 6) & 63)]! + PCT[0x80 | (cp & 63)]!;
}

/** The host name of a Host / :authority value: lower-case, port dropped, IPv6 literal kept in brackets. */
export function hostnameOf(host: string): string {
  if (host === '') return '';
  const h = host.toLowerCase();
  if (h.charCodeAt(0) === 91 /* [ */) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}
