// Who the client is, for limits keyed by IP: the peer address, or, when the
// peer is a trusted proxy, the first untrusted address walking
// X-Forwarded-For (or Forwarded) from the right. IPv6 clients are grouped by
// prefix (a /64 is one subscriber), so rotating addresses inside it does not
// escape a limit.
import { BlockList, isIP } from 'node:net';
import type { RequestContext } from '../../pipeline/context.js';

/** An address or CIDR range (IPv4 or IPv6), as node:net's BlockList takes it. */
export function cidrError(s: string): string | undefined {
  const [addr, bits, extra] = s.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined) return `"${s}" is not an IP address or CIDR range`;
  if (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))) return `"${s}" has a bad prefix length`;
  return undefined;
}

export function blockList(entries: readonly string[]): BlockList | null {
  if (entries.length === 0) return null;
  const list = new BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const type = isIP(addr!) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return list;
}

/** The tail of an IPv4-mapped address in any spelling (…ffff:a.b.c.d, …ffff:7f00:1). */
const MAPPED_TAIL = /ffff:(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]{1,4}:[0-9a-f]{1,4})$/i;

/**
 * IPv4-mapped IPv6 is the IPv4 address, however it is spelled: "::ffff:a.b.c.d",
 * upper case, or the eight hex words uWS reports for an IPv4 peer of a
 * dual-stack ("::") listener ("0000:0000:0000:0000:0000:ffff:7f00:0001").
 * Left mapped, such an address would be grouped by its IPv6 /64 (all of
 * IPv4 in one key) and miss IPv4 ranges.
 */
export function plainAddress(a: string): string {
  if (a.indexOf(':') === -1) return a;
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) return a.slice(7);
  if (!MAPPED_TAIL.test(a) || isIP(a) !== 6) return a;
  const w = expand(a);
  if (w === null || w[0] !== 0 || w[1] !== 0 || w[2] !== 0 || w[3] !== 0 || w[4] !== 0 || w[5] !== 0xffff) return a;
  return `${w[6]! >> 8}.${w[6]! & 0xff}.${w[7]! >> 8}.${w[7]! & 0xff}`;
}

export function contains(list: BlockList | null, addr: string): boolean {
  if (list === null) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  return list.check(addr, family === 6 ? 'ipv6' : 'ipv4');
}

/** Addresses from X-Forwarded-For, or else Forwarded `for=`, left to right. */
function forwardedChain(xff: string | undefined, forwarded: string | undefined): string[] {
  if (xff !== undefined) return xff.split(',').map((s) => stripPort(s.trim()));
  if (forwarded === undefined) return [];
  const out: string[] = [];
  for (const element of forwarded.split(',')) {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') out.push(stripPort(pair.slice(eq + 1).trim().replace(/^"|"$/g, '')));
    }
  }
  return out;
}

/** "1.2.3.4:80" -> 1.2.3.4, "[2001:db8::1]:80" -> 2001:db8::1. */
function stripPort(s: string): string {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    return end > 0 ? s.slice(1, end) : s;
  }
  const colon = s.indexOf(':');
  return colon > 0 && s.indexOf(':', colon + 1) === -1 ? s.slice(0, colon) : s;
}

export function clientAddress(peer: string, trusted: BlockList | null, xff: string | undefined, forwarded: string | undefined): string {
  let addr = plainAddress(peer);
  if (trusted === null || !contains(trusted, addr)) return addr;
  const chain = forwardedChain(xff, forwarded);
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = plainAddress(chain[i]!);
    if (isIP(hop) === 0) return addr; // garbage in the chain: stop at the last address we could trust
    addr = hop;
    if (!contains(trusted, hop)) return hop;
  }
  return addr;
}

/** The client of a request: its peer, or what trusted proxies before it say (see clientAddress). */
export function requestClientAddress(ctx: RequestContext, trusted: BlockList | null): string {
  if (trusted === null) return plainAddress(ctx.remoteAddress);
  return clientAddress(ctx.remoteAddress, trusted, fieldLines(ctx, 'x-forwarded-for'), fieldLines(ctx, 'forwarded'));
}

/**
 * Every line of a list-valued header, joined in order (RFC 9110 §5.3). A
 * proxy may add its own X-Forwarded-For line instead of appending to the
 * client's (HAProxy's `option forwardfor` does): reading only the first line
 * would take the client's own, spoofable, value as its address.
 */
function fieldLines(ctx: RequestContext, name: string): string | undefined {
  const h = ctx.headers;
  let out: string | undefined;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) out = out === undefined ? h[i + 1] : `${out}, ${h[i + 1]}`;
  return out;
}

/** The address as a key: IPv6 masked to `prefix` bits ("2001:db8:1:2::/64"). */
export function groupAddress(addr: string, prefix: number): string {
  // IPv4 (no colon) first: isIP() runs a regex, measurable on every request.
  if (prefix >= 128 || addr.indexOf(':') === -1 || isIP(addr) !== 6) return addr;
  const words = expand(addr);
  if (words === null) return addr;
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefix - i * 16));
    words[i] = keep === 0 ? 0 : words[i]! & (0xffff << (16 - keep)) & 0xffff;
  }
  return `${words.map((w) => w.toString(16)).join(':')}/${prefix}`;
}

function expand(addr: string): number[] | null {
  let a = addr;
  const pct = a.indexOf('%');
  if (pct >= 0) a = a.slice(0, pct);
  // An embedded IPv4 tail becomes two words.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b1, b2, b3, b4] = v4.slice(1).map(Number) as [number, number, number, number];
    a = a.slice(0, v4.index) + ((b1 << 8) | b2).toString(16) + ':' + ((b3 << 8) | b4).toString(16);
  }
  const [head, tail] = a.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined ? [] : tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...new Array<string>(fill).fill('0'), ...t];
  if (all.length !== 8) return null;
  return all.map((x) => parseInt(x, 16));
}
