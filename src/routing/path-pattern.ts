// Path patterns of a route: exact (/a/b), parameters (/users/:id), a final
// wildcard (/api/* matches /api, /api/ and everything below) or a regex.
import { normalizePath, type EncodedSlashes } from './normalize.js';

export type PathKind = 'exact' | 'param' | 'prefix' | 'regex';

export interface PathMatcher {
  readonly kind: PathKind;
  /** Literal characters in the pattern: longer is more specific. */
  readonly literalLength: number;
  readonly paramNames: readonly string[];
  /** Exact path, or the prefix (without the trailing slash) for wildcards. */
  readonly literal: string;
  readonly regex: RegExp | null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** `slashes` is the gateway's choice for request paths (normalize.ts), so that a literal is spelled as they are. */
export function compilePath(path: string | undefined, pathRegex: string | undefined, slashes: EncodedSlashes = 'keep'): PathMatcher {
  if (pathRegex !== undefined) {
    return { kind: 'regex', literalLength: pathRegex.replace(/[\\^$.*+?()[\]{}|]/g, '').length, paramNames: [], literal: '', regex: new RegExp(pathRegex) };
  }
  const p = normalPattern(path ?? '/*', slashes);
  if (p.endsWith('/*')) {
    const literal = p.slice(0, -2);
    if (literal.includes(':')) return compileParams(literal, true);
    return { kind: 'prefix', literalLength: literal.length, paramNames: [], literal, regex: null };
  }
  if (p.includes('/:')) return compileParams(p, false);
  return { kind: 'exact', literalLength: p.length, paramNames: [], literal: p, regex: null };
}

// Request paths are compared in normal form, so the pattern's literals are
// put in that form too: /caf%c3%a9, /café and /caf%C3%A9 are one route, and
// /h2c/%66lag one with /h2c/flag. ':name' and a final '*' pass unchanged.
function normalPattern(path: string, slashes: EncodedSlashes): string {
  if (path.includes('#')) throw new Error(`path pattern ${JSON.stringify(path)}: a request path never has a '#' (fragment)`);
  const p = normalizePath(path, slashes);
  if (p === null) throw new Error(`path pattern ${JSON.stringify(path)} is not a valid request path (RFC 3986)`);
  return p;
}

function compileParams(p: string, prefix: boolean): PathMatcher {
  const names: string[] = [];
  let literalLength = 0;
  const src = p
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        names.push(seg.slice(1));
        return '([^/]+)';
      }
      literalLength += seg.length + 1;
      return escape(seg);
    })
    .join('/');
  const regex = new RegExp(`^${src}${prefix ? '(?:/.*)?' : ''}$`);
  return { kind: prefix ? 'prefix' : 'param', literalLength, paramNames: names, literal: '', regex };
}

/** Returns the captured params (empty object when none), or null on no match. */
export function matchPath(m: PathMatcher, path: string): Record<string, string> | null {
  switch (m.kind) {
    case 'exact':
      return path === m.literal ? EMPTY : null;
    case 'prefix':
      if (m.regex !== null) return captures(m, path);
      if (m.literal === '') return EMPTY;
      return path.startsWith(m.literal) && (path.length === m.literal.length || path.charCodeAt(m.literal.length) === 47)
        ? EMPTY
        : null;
    case 'param':
      return captures(m, path);
    case 'regex':
      return m.regex!.test(path) ? EMPTY : null;
  }
}

const EMPTY: Record<string, string> = Object.freeze({}) as Record<string, string>;

function captures(m: PathMatcher, path: string): Record<string, string> | null {
  const r = m.regex!.exec(path);
  if (r === null) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < m.paramNames.length; i++) out[m.paramNames[i]!] = safeDecode(r[i + 1]!);
  return out;
}

function safeDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
