import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizePath, type EncodedSlashes } from './normalize.js';

const MODES: readonly EncodedSlashes[] = ['keep', 'decode', 'reject'];

const cases = (pairs: [string, string | null][], slashes?: EncodedSlashes): void => {
  for (const [input, want] of pairs) assert.equal(normalizePath(input, slashes), want, `normalizePath(${JSON.stringify(input)}, ${slashes})`);
};

test('paths with nothing to resolve come back unchanged', () => {
  cases([
    ['/', '/'],
    ['/a', '/a'],
    ['/a/b/', '/a/b/'],
    ['/a.b/c..d/...', '/a.b/c..d/...'],
    ['/a%20b', '/a%20b'],
    ["/a-b_c~d/!$&'()*+,;=:@/[x]", "/a-b_c~d/!$&'()*+,;=:@/[x]"],
  ]);
});

test('dot segments are removed (RFC 3986 §5.2.4)', () => {
  cases([
    ['/public/../admin', '/admin'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/../../c', '/c'],
    ['/a/./b/../../../c', '/c'],
    ['/..', '/'],
    ['/../../x', '/x'],
    ['/.', '/'],
    ['/a/..', '/'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/a/./', '/a/'],
    ['/a/../', '/'],
    ['/a/b/../../..//c', '/c'],
  ]);
});

test('segments that merely start with a dot are kept', () => {
  cases([
    ['/.well-known/acme', '/.well-known/acme'],
    ['/a/.hidden', '/a/.hidden'],
    ['/a/...', '/a/...'],
    ['/a/..b', '/a/..b'],
  ]);
});

test('%2e is a dot: encoded dot segments are resolved too (either case)', () => {
  cases([
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/public/%2e%2E/admin', '/admin'],
    ['/public/.%2e/admin', '/admin'],
    ['/public/%2e./admin', '/admin'],
    ['/a/%2e/b', '/a/b'],
    ['/%2e%2e/%2e%2e/x', '/x'],
    ['/a/%2e%2e', '/'],
    ['/a/%2e%2E/b', '/b'],
  ]);
});

test('every percent-encoded unreserved char is decoded, so a deny on /h2c/flag cannot be bypassed (§2.3, §6.2.2.2)', () => {
  cases([
    ['/h2c/%66lag', '/h2c/flag'],
    ['/h2c/fl%61g', '/h2c/flag'],
    ['/h2c/%66%6C%61%67', '/h2c/flag'],
    ['/%41%5a%30%39%2D%5F%7e', '/AZ09-_~'],
  ]);
});

test('other percent-encodings are kept, with upper-case hex (§6.2.2.1)', () => {
  cases([
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%3fb%23c%25', '/a%3Fb%23c%25'],
    ['/%7f%ff%0a', '/%7F%FF%0A'],
    ['/a%20b', '/a%20b'],
  ]);
});

test('a malformed percent-encoding, %00 or a raw control char gives null', () => {
  cases([
    ['/%zz', null],
    ['/%', null],
    ['/a%4', null],
    ['/a%4g', null],
    ['/a%4#1', null],
    ['/%00', null],
    ['/a\u0000b', null],
    ['/a\tb', null],
    ['/a\r\nb', null],
    ['/a\u007fb', null],
  ]);
});

test('chars that may not appear raw in a path are percent-encoded', () => {
  cases([
    ['/a b', '/a%20b'],
    ['/"<>^`{|}', '/%22%3C%3E%5E%60%7B%7C%7D'],
    // The caller removed the query; a '?' left in would end the path upstream.
    ['/a?b', '/a%3Fb'],
  ]);
});

// A JS string is read as text: chars above 0x7e are encoded as their UTF-8
// bytes. uWS's getUrl decodes the target's bytes as UTF-8 and route literals
// in the config are UTF-8 text, so /café in a request matches /café in a
// route, and the upstream gets the bytes the client sent.
test('non-ASCII chars are encoded as UTF-8', () => {
  cases([
    ['/é', '/%C3%A9'],
    ['/caf\u00e9', '/caf%C3%A9'],
    ['/€', '/%E2%82%AC'],
    ['/😀', '/%F0%9F%98%80'],
    ['/\u00a0', '/%C2%A0'],
    // node:http2 hands :path over as latin1: raw UTF-8 é (C3 A9) arrives as
    // 'Ã©' and names another resource, /cafÃ©, never /café.
    ['/caf\u00c3\u00a9', '/caf%C3%83%C2%A9'],
    // A lone surrogate is no text.
    ['/a\ud800', null],
    ['/a\udc00b', null],
  ]);
  assert.equal(normalizePath('/caf%C3%A9'), normalizePath('/café'));
});

test('encoded slashes are not decoded by default, so they never create segments', () => {
  cases([
    ['/a%2F..%2Fb', '/a%2F..%2Fb'],
    ['/a/..%2fadmin', '/a/..%2Fadmin'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%5cb', '/a%5Cb'],
    ['/a\\b', '/a%5Cb'],
    ['/a\\..\\b', '/a%5C..%5Cb'],
  ]);
});

test("encoded slashes and '\\' in decode mode: separators like '/'", () => {
  cases(
    [
      ['/a%2fb', '/a/b'],
      ['/a%5Cb', '/a/b'],
      ['/a\\b', '/a/b'],
      ['/a%2F..%2Fb', '/b'],
      ['/a\\..\\..\\b', '/b'],
      ['/a%2F%2F%2Fb%2F', '/a/b/'],
      ['/a/..%2fadmin', '/admin'],
    ],
    'decode',
  );
});

test("encoded slashes and '\\' in reject mode: null", () => {
  cases(
    [
      ['/a%2fb', null],
      ['/a%2Fb', null],
      ['/a%5cb', null],
      ['/a\\b', null],
      ['/a/b', '/a/b'],
      ['/a%2e%2e/b', '/a../b'],
    ],
    'reject',
  );
});

test('repeated slashes are merged', () => {
  cases([
    ['//a///b', '/a/b'],
    ['/a//b/', '/a/b/'],
    ['/a//', '/a/'],
    ['//', '/'],
    ['///', '/'],
    ['//evil.example/x', '/evil.example/x'],
    ['/public//../admin', '/admin'],
  ]);
});

test('a fragment is dropped', () => {
  cases([
    ['/x#frag', '/x'],
    ['/x#', '/x'],
    ['/#/../a', '/'],
    ['/a/..#x', '/'],
    ['/a#%zz\u0000', '/a'],
  ]);
});

test('a request target that is not origin-form gives null', () => {
  cases([
    ['', null],
    ['*', null],
    ['http://example.com/a', null],
    ['example.com:443', null],
    ['a/b', null],
    ['%2f', null],
    ['#/a', null],
  ]);
});

// --- properties ---

// A path-ish alphabet; the tokens that make a target unacceptable come less often.
const TOKENS = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('/..', '/.', '/%2e%2E', '/a', '%2F..', '\\..') },
  { weight: 12, arbitrary: fc.constantFrom('/', '/', '/', '.', '..', '%2e', '%2E', '%2f', '%2F', '%5c', '%5C', '%66', '%c3%a9', '%7e', '%25') },
  { weight: 12, arbitrary: fc.constantFrom('0', '2', '5', 'c', 'C', 'e', 'E', 'f', 'F', 'a', 'z', '\\', '#', '~', '-', '_', ':', '@', ' ', '?') },
  { weight: 3, arbitrary: fc.constantFrom('é', '€', '😀', '\u00c3') },
  { weight: 1, arbitrary: fc.constantFrom('%', '%00', '%zz', '\u0001', '\u007f', '\ud800') },
);
const pathish = fc.array(TOKENS, { maxLength: 24 }).map((t) => t.join(''));
const target = fc.oneof(pathish.map((s) => '/' + s), pathish);
const mode = fc.constantFrom(...MODES);
const RUNS = { numRuns: 3000 };

test('property: normalizing twice is normalizing once, in every mode', () => {
  fc.assert(
    fc.property(target, mode, (x, m) => {
      const once = normalizePath(x, m);
      if (once !== null) assert.equal(normalizePath(once, m), once);
    }),
    RUNS,
  );
});

// Raw, only pchars (§3.3) and '[' ']'; every percent-encoding upper-case and not of an unreserved char.
const NORMAL_CHARS = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@[\]/]|%(?![46][1-9A-F]|[57][0-9A]|3[0-9]|2[DE]|5F|7E|00)[0-9A-F]{2})*$/;

test('property: the output starts with /, has no dot or empty segment, no raw \\ and nothing to encode', () => {
  fc.assert(
    fc.property(target, mode, (x, m) => {
      const out = normalizePath(x, m);
      if (out === null) return;
      assert.equal(out[0], '/');
      assert.ok(!out.includes('//'), out);
      const segs = out.split('/');
      assert.ok(!segs.includes('.') && !segs.includes('..'), out);
      assert.ok(!out.includes('\\'), out);
      assert.match(out, NORMAL_CHARS);
      if (m !== 'keep') assert.ok(!/%2F|%5C/.test(out), out);
    }),
    RUNS,
  );
});

// What a target means, byte by byte, worked out independently: segments of
// bytes (a raw char is its UTF-8 bytes, %XX the byte XX), '.' and '..' as
// §5.2.4 has them, '' last for a trailing slash. null when not acceptable.
// Bytes, not decodeURIComponent: that throws on a non-UTF-8 byte like %FF.
function meaning(x: string, m: EncodedSlashes): string[] | null {
  const hash = x.indexOf('#');
  if (hash !== -1) x = x.slice(0, hash);
  if (x[0] !== '/') return null;
  const raw: number[][] = [];
  let cur: number[] | null = null;
  for (let i = 0; i < x.length; ) {
    const c = x.codePointAt(i)!;
    let bytes: number[];
    let sep = c === 0x2f;
    if (c === 0x25) {
      if (!/^[0-9a-f]{2}$/i.test(x.slice(i + 1, i + 3))) return null;
      bytes = [parseInt(x.slice(i + 1, i + 3), 16)];
      i += 3;
    } else {
      if (c < 0x20 || c === 0x7f || (c >= 0xd800 && c <= 0xdfff)) return null;
      bytes = [...Buffer.from(String.fromCodePoint(c))];
      i += c > 0xffff ? 2 : 1;
    }
    if (bytes[0] === 0) return null;
    if (c === 0x5c || ((c === 0x25) && (bytes[0] === 0x2f || bytes[0] === 0x5c))) {
      if (m === 'reject') return null;
      if (m === 'decode') sep = true;
    }
    if (sep) raw.push((cur = []));
    else cur!.push(...bytes);
  }
  const out: string[] = [];
  raw.forEach((seg, i) => {
    const s = Buffer.from(seg).toString('hex');
    const last = i === raw.length - 1;
    if (s === '2e2e') out.pop();
    else if (s !== '2e' && s !== '') out.push(s);
    if (last && (s === '' || s === '2e' || s === '2e2e')) out.push('');
  });
  return out;
}

const bytesOf = (seg: string): string =>
  Buffer.from(seg.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('hex');

test('property: the meaning is kept: the same bytes in the same segments', () => {
  fc.assert(
    fc.property(target, mode, (x, m) => {
      const out = normalizePath(x, m);
      const want = meaning(x, m);
      if (want === null) return assert.equal(out, null, JSON.stringify(x));
      assert.notEqual(out, null, JSON.stringify(x));
      assert.deepEqual(out!.split('/').slice(1).map(bytesOf), want, `${JSON.stringify(x)} -> ${out}`);
    }),
    RUNS,
  );
});

test('property: segments of unreserved chars come back unchanged', () => {
  const seg = fc
    .string({ unit: fc.constantFrom(...'abcXYZ019-._~'), minLength: 1, maxLength: 8 })
    .filter((s) => s !== '.' && s !== '..');
  fc.assert(
    fc.property(fc.array(seg, { maxLength: 8 }), fc.boolean(), mode, (segs, slash, m) => {
      const p = segs.length === 0 ? '/' : '/' + segs.join('/') + (slash ? '/' : '');
      assert.equal(normalizePath(p, m), p);
    }),
    RUNS,
  );
});
