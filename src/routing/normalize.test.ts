import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from './normalize.js';

const cases = (pairs: [string, string | null][]): void => {
  for (const [input, want] of pairs) assert.equal(normalizePath(input), want, `normalizePath(${JSON.stringify(input)})`);
};

test('paths with nothing to resolve come back unchanged', () => {
  cases([
    ['/', '/'],
    ['/a', '/a'],
    ['/a/b/', '/a/b/'],
    ['/a.b/c..d/...', '/a.b/c..d/...'],
    ['/a%20b', '/a%20b'],
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
  ]);
});

test('encoded slashes are not decoded, so they never create segments', () => {
  cases([
    ['/a%2F..%2Fb', '/a%2F..%2Fb'],
    ['/a/..%2fadmin', '/a/..%2fadmin'],
  ]);
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

test('a request target that is not origin-form gives null', () => {
  cases([
    ['', null],
    ['*', null],
    ['http://example.com/a', null],
    ['example.com:443', null],
    ['a/b', null],
    ['%2f', null],
  ]);
});
