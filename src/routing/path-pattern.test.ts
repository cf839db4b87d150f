import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePath, matchPath } from './path-pattern.js';
import { normalizePath } from './normalize.js';

/** What the router sees of a request target: its normalized path. */
const match = (pattern: string, target: string) => matchPath(compilePath(pattern, undefined), normalizePath(target)!);

test('literals in a pattern are compiled in the normal form of request paths', () => {
  assert.equal(compilePath('/h2c/%66lag', undefined).literal, '/h2c/flag');
  assert.equal(compilePath('/caf%c3%a9', undefined).literal, '/caf%C3%A9');
  assert.equal(compilePath('/café', undefined).literal, '/caf%C3%A9');
  assert.equal(compilePath('/a b', undefined).literal, '/a%20b');
  assert.equal(compilePath('/a/./b/../c', undefined).literal, '/a/c');
  assert.equal(compilePath('/a//b', undefined).literal, '/a/b');
  assert.equal(compilePath('/a%2fb', undefined).literal, '/a%2Fb');
  assert.equal(compilePath('/~me/%7Eyou/*', undefined).literal, '/~me/~you');
});

test('patterns without anything to normalize are compiled as before', () => {
  assert.deepEqual(compilePath('/api/v1', undefined), { kind: 'exact', literalLength: 7, paramNames: [], literal: '/api/v1', regex: null });
  assert.deepEqual(compilePath('/api/*', undefined), { kind: 'prefix', literalLength: 4, paramNames: [], literal: '/api', regex: null });
  assert.equal(compilePath(undefined, undefined).literal, '');
  const p = compilePath('/users/:id/orders/:order', undefined);
  assert.equal(p.kind, 'param');
  assert.deepEqual(p.paramNames, ['id', 'order']);
});

test('any spelling of a request path matches any spelling of the route', () => {
  for (const pattern of ['/h2c/flag', '/h2c/%66lag', '/h2c/fl%61g']) {
    for (const target of ['/h2c/flag', '/h2c/%66lag', '/h2c/fl%61g', '/h2c/%66%6c%61%67', '/h2c/x/../flag', '//h2c/flag#x']) {
      assert.deepEqual(match(pattern, target), {}, `${pattern} vs ${target}`);
    }
  }
  assert.deepEqual(match('/caf%C3%A9/*', '/café/menu'), {});
  assert.deepEqual(match('/café/*', '/caf%c3%a9/menu'), {});
  assert.deepEqual(match('/users/:id/a%20b', '/users/7/a b'), { id: '7' });
  // An encoded ':' is a literal, not a parameter.
  assert.deepEqual(match('/users/%3Aid', '/users/%3aid'), {});
  assert.equal(match('/users/%3Aid', '/users/7'), null);
  assert.equal(match('/a%2Fb', '/a/b'), null);
});

test('encoded slashes in a pattern follow the same choice as request paths', () => {
  assert.equal(compilePath('/a%2fb\\c', undefined, 'decode').literal, '/a/b/c');
  assert.throws(() => compilePath('/a%2fb', undefined, 'reject'), /not a valid request path/);
});

test('a pattern no request path can have is refused', () => {
  assert.throws(() => compilePath('/a%zz', undefined), /not a valid request path/);
  assert.throws(() => compilePath('/a%00', undefined), /not a valid request path/);
  assert.throws(() => compilePath('/a\tb', undefined), /not a valid request path/);
  assert.throws(() => compilePath('/a#b', undefined), /fragment/);
});

test('a regex pattern is left as it is: it is tested against normalized paths', () => {
  const r = compilePath(undefined, '^/h2c/f');
  assert.equal(r.kind, 'regex');
  assert.deepEqual(matchPath(r, normalizePath('/h2c/%66lag')!), {});
});
