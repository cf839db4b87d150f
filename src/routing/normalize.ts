// Request-target checks and dot-segment removal, so that /public/../admin is
// routed (and forwarded) as /admin: matching must see what the upstream sees.

export type EncodedSlashes = 'keep' | 'decode' | 'reject';

/** Returns the normalized path, or null when the target is not origin-form. */
export function normalizePath(url: string, _slashes: EncodedSlashes = 'keep'): string | null {
  if (url.charCodeAt(0) !== 47 /* / */) return null;
  // Fast path: nothing to resolve.
  if (url.indexOf('/.') === -1 && url.indexOf('%2') === -1 && url.indexOf('//') === -1) return url;
  const decodedDots = url.replace(/%2e/gi, '.');
  const out: string[] = [];
  const segs = decodedDots.split('/');
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '.' ) {
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      out.pop();
      if (i === segs.length - 1) out.push('');
      continue;
    }
    if (s === '' && i < segs.length - 1) continue; // merge slashes
    out.push(s);
  }
  return '/' + out.join('/');
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
