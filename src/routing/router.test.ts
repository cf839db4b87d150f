import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Router, compileMatchers, compareRoutes, type Rankable, type Routable } from './router.js';
import type { MatchConfig } from '../config/schema.js';

interface Spec {
  name: string;
  match: MatchConfig;
  priority?: number;
}

function router(specs: Spec[]): Router<string> {
  const routes: Rankable<string>[] = specs.map((s, index) => ({
    priority: s.priority ?? 0,
    index,
    matchers: compileMatchers(s.match),
    value: s.name,
  }));
  return new Router(routes);
}

interface ReqOpts {
  method?: string;
  hostname?: string;
  headers?: Record<string, string>;
  query?: string;
}

class Req implements Routable {
  readonly method: string;
  readonly path: string;
  readonly hostname: string;
  readonly #headers: Record<string, string>;
  readonly #query: URLSearchParams;
  params: Record<string, string> = { untouched: 'yes' };

  constructor(path: string, o: ReqOpts = {}) {
    this.method = o.method ?? 'GET';
    this.path = path;
    this.hostname = o.hostname ?? '';
    // Listeners hand lower-case header names to the router.
    this.#headers = Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    this.#query = new URLSearchParams(o.query ?? '');
  }

  header(name: string): string | undefined {
    return this.#headers[name];
  }

  queryParam(name: string): string | undefined {
    return this.#query.get(name) ?? undefined;
  }
}

const find = (r: Router<string>, path: string, o?: ReqOpts): string | null => r.find(new Req(path, o));

describe('router ranking', () => {
  test('exact beats params beats prefix, whatever the file order', () => {
    const r = router([
      { name: 'prefix', match: { path: '/users/*' } },
      { name: 'param', match: { path: '/users/:id' } },
      { name: 'exact', match: { path: '/users/me' } },
    ]);
    assert.equal(find(r, '/users/me'), 'exact');
    assert.equal(find(r, '/users/42'), 'param');
    assert.equal(find(r, '/users/42/posts'), 'prefix');
    assert.equal(find(r, '/users'), 'prefix');
  });

  test('a longer literal prefix is more specific than a shorter one', () => {
    const r = router([
      { name: 'api', match: { path: '/api/*' } },
      { name: 'api-v1', match: { path: '/api/v1/*' } },
      { name: 'root', match: { path: '/*' } },
    ]);
    assert.equal(find(r, '/api/v1/things'), 'api-v1');
    assert.equal(find(r, '/api/v2/things'), 'api');
    assert.equal(find(r, '/other'), 'root');
  });

  test('with equal kind and literal length, the route with more matchers ranks first', () => {
    const r = router([
      { name: 'plain', match: { path: '/x' } },
      { name: 'with-method', match: { path: '/x', methods: ['GET'] } },
    ]);
    assert.equal(find(r, '/x'), 'with-method');
    assert.equal(find(r, '/x', { method: 'POST' }), 'plain');
  });

  test('file order breaks remaining ties', () => {
    const r = router([
      { name: 'first', match: { path: '/t/*' } },
      { name: 'second', match: { path: '/t/*' } },
    ]);
    assert.equal(find(r, '/t/a'), 'first');
  });

  test('explicit priority beats specificity, across exact and pattern routes', () => {
    const r = router([
      { name: 'exact', match: { path: '/prio/x' } },
      { name: 'prefix-high', match: { path: '/prio/*' }, priority: 10 },
      { name: 'root-low', match: { path: '/*' }, priority: -1 },
      { name: 'exact-other', match: { path: '/other' } },
    ]);
    assert.equal(find(r, '/prio/x'), 'prefix-high');
    // Negative priority ranks below every default-priority route.
    assert.equal(find(r, '/other'), 'exact-other');
    assert.equal(find(r, '/nothing-else'), 'root-low');
  });

  test('compareRoutes orders priority first, then specificity, then index', () => {
    const mk = (index: number, path: string, priority = 0): Rankable<number> => ({
      priority,
      index,
      matchers: compileMatchers({ path }),
      value: index,
    });
    const sorted = [mk(0, '/*'), mk(1, '/a/:b'), mk(2, '/a/b'), mk(3, '/*', 5), mk(4, '/a/b')].sort(compareRoutes);
    assert.deepEqual(sorted.map((r) => r.value), [3, 2, 4, 1, 0]);
  });

  test('no route matches: null, and params are left alone', () => {
    const r = router([{ name: 'a', match: { path: '/a' } }]);
    const req = new Req('/b');
    assert.equal(r.find(req), null);
    assert.deepEqual(req.params, { untouched: 'yes' });
    assert.equal(router([]).find(new Req('/')), null);
  });
});

describe('router fall-through', () => {
  test('a route whose method matcher fails falls through to the next in rank', () => {
    const r = router([
      { name: 'post-only', match: { path: '/items', methods: ['post'] } },
      { name: 'any', match: { path: '/*' } },
    ]);
    assert.equal(find(r, '/items', { method: 'POST' }), 'post-only');
    assert.equal(find(r, '/items', { method: 'GET' }), 'any');
  });

  test('method mismatch with no other route: no match', () => {
    const r = router([{ name: 'post-only', match: { path: '/items', methods: ['POST', 'PUT'] } }]);
    assert.equal(find(r, '/items', { method: 'GET' }), null);
    assert.equal(find(r, '/items', { method: 'PUT' }), 'post-only');
  });

  test('a route whose host matcher fails falls through', () => {
    const r = router([
      { name: 'api-host', match: { path: '/users/:id', host: 'api.example.com' } },
      { name: 'users', match: { path: '/users/*' } },
    ]);
    assert.equal(find(r, '/users/1', { hostname: 'api.example.com' }), 'api-host');
    assert.equal(find(r, '/users/1', { hostname: 'www.example.com' }), 'users');
    assert.equal(find(r, '/users/1'), 'users');
  });

  test('a route whose header matcher fails falls through', () => {
    const r = router([
      { name: 'canary', match: { path: '/svc', headers: { 'X-Canary': '1' } } },
      { name: 'stable', match: { path: '/svc' } },
    ]);
    assert.equal(find(r, '/svc', { headers: { 'x-canary': '1' } }), 'canary');
    assert.equal(find(r, '/svc', { headers: { 'x-canary': '0' } }), 'stable');
    assert.equal(find(r, '/svc'), 'stable');
  });

  test('a route whose query matcher fails falls through', () => {
    const r = router([
      { name: 'v2', match: { path: '/q', query: { v: '2' } } },
      { name: 'plain', match: { path: '/q' } },
    ]);
    assert.equal(find(r, '/q', { query: 'v=2' }), 'v2');
    assert.equal(find(r, '/q', { query: 'v=3' }), 'plain');
  });

  test('an exact route that fails falls through to pattern routes, and a failing high-priority pattern to the exact one', () => {
    const r = router([
      { name: 'exact-post', match: { path: '/e', methods: ['POST'] } },
      { name: 'prio-put', match: { path: '/*', methods: ['PUT'] }, priority: 5 },
      { name: 'param', match: { path: '/:x' } },
    ]);
    assert.equal(find(r, '/e', { method: 'PUT' }), 'prio-put');
    assert.equal(find(r, '/e', { method: 'POST' }), 'exact-post');
    assert.equal(find(r, '/e', { method: 'GET' }), 'param');
  });

  test('several exact routes on one path are tried in rank order', () => {
    const r = router([
      { name: 'plain', match: { path: '/same' } },
      { name: 'with-header', match: { path: '/same', headers: { 'x-a': { present: true } } } },
      { name: 'with-two', match: { path: '/same', headers: { 'x-a': { present: true }, 'x-b': 'b' } } },
    ]);
    assert.equal(find(r, '/same', { headers: { 'x-a': '', 'x-b': 'b' } }), 'with-two');
    assert.equal(find(r, '/same', { headers: { 'x-a': '' } }), 'with-header');
    assert.equal(find(r, '/same'), 'plain');
  });
});

describe('path patterns', () => {
  test('wildcard /api/* matches /api, /api/ and below, but not /apix', () => {
    const r = router([{ name: 'api', match: { path: '/api/*' } }]);
    for (const p of ['/api', '/api/', '/api/x', '/api/x/y', '/api/x/y/']) assert.equal(find(r, p), 'api', p);
    for (const p of ['/apix', '/apix/y', '/ap', '/', '/x/api']) assert.equal(find(r, p), null, p);
  });

  test('/* matches every path', () => {
    const r = router([{ name: 'all', match: { path: '/*' } }]);
    for (const p of ['/', '/a', '/a/b/c']) assert.equal(find(r, p), 'all', p);
  });

  test('a missing path (with no pathRegex) matches everything', () => {
    const r = router([{ name: 'all', match: { methods: ['GET'] } }]);
    assert.equal(find(r, '/anything/at/all'), 'all');
  });

  test('exact paths match exactly (no prefix, trailing slash is significant)', () => {
    const r = router([{ name: 'e', match: { path: '/a/b' } }]);
    assert.equal(find(r, '/a/b'), 'e');
    for (const p of ['/a/b/', '/a/bc', '/a', '/A/B']) assert.equal(find(r, p), null, p);
  });

  test('params are captured and percent-decoded', () => {
    const r = router([
      { name: 'repo', match: { path: '/orgs/:org/repos/:repo' } },
      { name: 'user', match: { path: '/users/:id' } },
    ]);
    const req = new Req('/orgs/acme%20inc/repos/caf%C3%A9');
    assert.equal(r.find(req), 'repo');
    assert.deepEqual(req.params, { org: 'acme inc', repo: 'café' });

    const slash = new Req('/users/a%2Fb');
    assert.equal(r.find(slash), 'user');
    assert.deepEqual(slash.params, { id: 'a/b' });

    // Malformed escapes are kept as sent rather than throwing.
    const bad = new Req('/users/%E0%A4%A');
    assert.equal(r.find(bad), 'user');
    assert.deepEqual(bad.params, { id: '%E0%A4%A' });
  });

  test('a param matches one non-empty segment only', () => {
    const r = router([{ name: 'user', match: { path: '/users/:id' } }]);
    for (const p of ['/users/', '/users', '/users/1/2', '/users//']) assert.equal(find(r, p), null, p);
  });

  test('params with a trailing wildcard match the base and everything below', () => {
    const r = router([{ name: 'files', match: { path: '/files/:id/*' } }]);
    for (const p of ['/files/7', '/files/7/', '/files/7/a/b']) {
      const req = new Req(p);
      assert.equal(r.find(req), 'files', p);
      assert.deepEqual(req.params, { id: '7' });
    }
    assert.equal(find(r, '/files'), null);
    assert.equal(find(r, '/filesx/7'), null);
  });

  test('routes without params set empty params on a match', () => {
    const r = router([{ name: 'e', match: { path: '/e' } }]);
    const req = new Req('/e');
    assert.equal(r.find(req), 'e');
    assert.deepEqual(req.params, {});
  });

  test('regex paths are tested against the path', () => {
    const r = router([
      { name: 'anchored', match: { pathRegex: '^/v[0-9]+/items$' } },
      { name: 'unanchored', match: { pathRegex: '\\.json$' } },
    ]);
    assert.equal(find(r, '/v2/items'), 'anchored');
    assert.equal(find(r, '/v10/items'), 'anchored');
    assert.equal(find(r, '/v2/items/x'), null);
    assert.equal(find(r, '/vx/items'), null);
    assert.equal(find(r, '/deep/down/data.json'), 'unanchored');
  });

  test('an exact route outranks a regex that matches the same path', () => {
    const r = router([
      { name: 'regex', match: { pathRegex: '^/health' } },
      { name: 'exact', match: { path: '/health' } },
    ]);
    assert.equal(find(r, '/health'), 'exact');
    assert.equal(find(r, '/healthz'), 'regex');
  });
});

describe('host matchers', () => {
  test('exact host, case-insensitive in config', () => {
    const r = router([{ name: 'h', match: { path: '/*', host: 'API.Example.com' } }]);
    assert.equal(find(r, '/', { hostname: 'api.example.com' }), 'h');
    assert.equal(find(r, '/', { hostname: 'www.example.com' }), null);
    assert.equal(find(r, '/', { hostname: '' }), null);
  });

  test('*.example.com matches any subdomain but not the apex or a lookalike', () => {
    const r = router([{ name: 'wild', match: { path: '/*', host: '*.example.com' } }]);
    assert.equal(find(r, '/', { hostname: 'a.example.com' }), 'wild');
    assert.equal(find(r, '/', { hostname: 'a.b.example.com' }), 'wild');
    assert.equal(find(r, '/', { hostname: 'example.com' }), null);
    assert.equal(find(r, '/', { hostname: 'badexample.com' }), null);
    assert.equal(find(r, '/', { hostname: '.example.com' }), null);
    assert.equal(find(r, '/', { hostname: 'example.com.evil.net' }), null);
  });

  test('a host list matches any of its entries', () => {
    const r = router([{ name: 'list', match: { path: '/*', host: ['example.com', '*.example.org'] } }]);
    assert.equal(find(r, '/', { hostname: 'example.com' }), 'list');
    assert.equal(find(r, '/', { hostname: 'x.example.org' }), 'list');
    assert.equal(find(r, '/', { hostname: 'example.org' }), null);
  });

  test('exact host beats wildcard host only by file order or priority (same specificity)', () => {
    const r = router([
      { name: 'wild', match: { path: '/h', host: '*.example.com' } },
      { name: 'exact', match: { path: '/h', host: 'api.example.com' }, priority: 1 },
      { name: 'any', match: { path: '/h' } },
    ]);
    assert.equal(find(r, '/h', { hostname: 'api.example.com' }), 'exact');
    assert.equal(find(r, '/h', { hostname: 'www.example.com' }), 'wild');
    assert.equal(find(r, '/h', { hostname: 'example.com' }), 'any');
  });
});

describe('header matchers', () => {
  const r = router([
    { name: 'exact', match: { path: '/h', headers: { 'X-Env': 'staging' } } },
    { name: 'regex', match: { path: '/h', headers: { 'x-version': { regex: '^v2(\\.|$)' } } } },
    { name: 'present', match: { path: '/h', headers: { 'x-debug': { present: true } } } },
    { name: 'absent', match: { path: '/h', headers: { authorization: { present: false } } } },
    { name: 'fallback', match: { path: '/h' } },
  ]);

  test('exact value (names case-insensitive, values case-sensitive)', () => {
    assert.equal(find(r, '/h', { headers: { 'x-env': 'staging', authorization: 'x' } }), 'exact');
    assert.equal(find(r, '/h', { headers: { 'x-env': 'Staging', authorization: 'x' } }), 'fallback');
  });

  test('regex value', () => {
    assert.equal(find(r, '/h', { headers: { 'x-version': 'v2', authorization: 'x' } }), 'regex');
    assert.equal(find(r, '/h', { headers: { 'x-version': 'v2.1', authorization: 'x' } }), 'regex');
    assert.equal(find(r, '/h', { headers: { 'x-version': 'v20', authorization: 'x' } }), 'fallback');
  });

  test('present: true needs the header, even empty', () => {
    assert.equal(find(r, '/h', { headers: { 'x-debug': '', authorization: 'x' } }), 'present');
  });

  test('present: false needs the header to be absent', () => {
    assert.equal(find(r, '/h'), 'absent');
    assert.equal(find(r, '/h', { headers: { authorization: 'Bearer t' } }), 'fallback');
    assert.equal(find(r, '/h', { headers: { authorization: '' } }), 'fallback');
  });

  test('every header matcher of a route must pass', () => {
    const both = router([
      { name: 'both', match: { path: '/b', headers: { 'x-a': 'a', 'x-b': { regex: '^b' } } } },
      { name: 'other', match: { path: '/b' } },
    ]);
    assert.equal(find(both, '/b', { headers: { 'x-a': 'a', 'x-b': 'bee' } }), 'both');
    assert.equal(find(both, '/b', { headers: { 'x-a': 'a' } }), 'other');
    assert.equal(find(both, '/b', { headers: { 'x-b': 'bee' } }), 'other');
  });
});

describe('query matchers', () => {
  const r = router([
    { name: 'exact', match: { path: '/s', query: { v: '2' } } },
    { name: 'regex', match: { path: '/s', query: { q: { regex: '^[a-z]+$' } } } },
    { name: 'present', match: { path: '/s', query: { debug: { present: true } } } },
    { name: 'absent', match: { path: '/s', query: { page: { present: false } } } },
    { name: 'fallback', match: { path: '/s' } },
  ]);

  test('exact, regex, present and absent', () => {
    assert.equal(find(r, '/s', { query: 'v=2&page=1' }), 'exact');
    assert.equal(find(r, '/s', { query: 'q=abc&page=1' }), 'regex');
    assert.equal(find(r, '/s', { query: 'q=ABC&page=1' }), 'fallback');
    assert.equal(find(r, '/s', { query: 'debug&page=1' }), 'present');
    assert.equal(find(r, '/s', { query: 'debug=&page=1' }), 'present');
    assert.equal(find(r, '/s'), 'absent');
    assert.equal(find(r, '/s', { query: 'page=2' }), 'fallback');
  });

  test('values are compared decoded, names are case-sensitive', () => {
    const q = router([
      { name: 'sp', match: { path: '/s', query: { name: 'a b' } } },
      { name: 'fallback', match: { path: '/s' } },
    ]);
    assert.equal(find(q, '/s', { query: 'name=a%20b' }), 'sp');
    assert.equal(find(q, '/s', { query: 'name=a+b' }), 'sp');
    assert.equal(find(q, '/s', { query: 'Name=a%20b' }), 'fallback');
  });
});
