import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ConfigInvalidError,
  formatConfigErrors,
  loadConfig,
  parseConfig,
  type ConfigError,
} from './load.js';

// Tests run from dist/src/config/; the repo root is three levels up.
const EXAMPLE = fileURLToPath(new URL('../../../config/gateway.yaml', import.meta.url));

const BASE = `listen: { http: { port: 8080 } }
upstreams:
  api:
    targets:
      - url: http://127.0.0.1:9000
routes:
  - name: r
    match: { path: /x }
    upstream: api
`;

/** 1-based line of the first line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `"${needle}" not in text`);
  return i + 1;
}

function errorsOf(text: string, env: Record<string, string> = {}, file = 'x.yaml'): ConfigError[] {
  try {
    parseConfig(text, file, env);
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError, String(e));
    assert.equal(e.code, 'WICKET_ERR_CONFIG_INVALID');
    assert.equal(e.file, file);
    return e.errors;
  }
  assert.fail('expected ConfigInvalidError');
}

/** The one error at `path` (fails if there is none or several). */
function errorAt(errors: ConfigError[], path: string): ConfigError {
  const found = errors.filter((e) => e.path === path);
  assert.equal(found.length, 1, `errors at ${path}: ${JSON.stringify(errors, null, 1)}`);
  return found[0]!;
}

describe('parseConfig: valid configs', () => {
  test('the example config/gateway.yaml loads', async () => {
    const cfg = await loadConfig(EXAMPLE, {});
    assert.equal(cfg.workers, 2);
    assert.deepEqual(cfg.listen.http, { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(Object.keys(cfg.upstreams), ['demo', 'admin-self']);
    assert.deepEqual(cfg.upstreams.demo!.targets, [{ url: 'http://127.0.0.1:9000', weight: 1, slot: -1 }]);
    assert.deepEqual(
      cfg.routes.map((r) => [r.index, r.name, r.upstream ?? r.respond?.status]),
      [
        [0, 'demo-api', 'demo'],
        [1, 'status', 'admin-self'],
        [2, 'hello', 200],
      ],
    );
    assert.equal(cfg.source.file, EXAMPLE);
  });

  test('defaults are filled in', () => {
    const cfg = parseConfig(BASE, 'x.yaml');
    assert.equal(cfg.workers, availableParallelism());
    assert.deepEqual(cfg.listen.http, { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(cfg.admin, { host: '127.0.0.1', port: 9901 });
    assert.deepEqual(cfg.log, { level: 'info', access: true });
    assert.deepEqual(cfg.limits, {
      maxHeaderBytes: 16384,
      maxUrlLength: 8192,
      maxBodyBytes: 10 * 1024 * 1024,
      maxWebSocketMessageBytes: 16 * 1024 * 1024,
      http2MaxConcurrentStreams: 100,
      http2MaxResets: 200,
      encodedSlashes: 'keep',
      http1ChunkedBodies: 'refuse-from-proxies',
      requestBufferBytes: 65536,
      requestBodyMinRate: { bytesPerSecond: 1024, windowMs: 10_000 },
      responseBufferBytes: 1024 * 1024,
      responseBufferTotalBytes: 128 * 1024 * 1024,
    });
    assert.deepEqual(cfg.supervisor, { drainTimeoutMs: 30_000, restartBackoffMs: 100, restartBackoffMaxMs: 10_000, workerSemiSpaceMiB: 64 });
    assert.deepEqual(cfg.upstreams.api, {
      name: 'api',
      balancer: 'round-robin',
      targets: [{ url: 'http://127.0.0.1:9000', weight: 1, slot: -1 }],
      connections: 128,
      connectTimeoutMs: 5000,
      headersTimeoutMs: 30_000,
      bodyTimeoutMs: 30_000,
      keepAliveTimeoutMs: 4000,
      poolWaitMs: 1000,
      client: 'wicket',
      protocol: 'http1',
      hashOn: 'ip',
      panic: false,
      slot: -1,
    });
    assert.deepEqual(cfg.state, { name: 'port-8080', targets: 1024, upstreams: 256, tableCells: 65536 });
    assert.deepEqual(cfg.routes[0], {
      index: 0,
      name: 'r',
      match: { path: '/x' },
      upstream: 'api',
      preserveHost: false,
      maxBodyBytes: 10 * 1024 * 1024,
    });
    assert.ok(!Number.isNaN(Date.parse(cfg.source.loadedAt)));
  });

  test('values are normalized', () => {
    const cfg = parseConfig(
      `${BASE}  - name: n
    match:
      path: /n
      methods: [get, Post, GET]
      host: Api.Example.COM
      headers: { X-Tenant: { regex: "^a" }, Accept: json }
    upstream: api
limits: { maxBodyBytes: 100 }
admin: { port: 9000, token: "0123456789abcdef" }
`,
      'x.yaml',
    );
    assert.deepEqual(cfg.admin, { host: '127.0.0.1', port: 9000, token: '0123456789abcdef' });
    const r = cfg.routes[1]!;
    assert.equal(r.index, 1);
    assert.equal(r.maxBodyBytes, 100);
    assert.deepEqual(r.match, {
      path: '/n',
      methods: ['GET', 'POST'],
      host: ['api.example.com'],
      headers: { 'x-tenant': { regex: '^a' }, accept: 'json' },
    });
  });

  test('target URLs are kept as normalized origins', () => {
    const cfg = parseConfig(BASE.replace('http://127.0.0.1:9000', 'http://Example.com:80/'), 'x.yaml');
    assert.equal(cfg.upstreams.api!.targets[0]!.url, 'http://example.com');
  });

  test('the result is plain data (survives structured clone unchanged)', () => {
    const cfg = parseConfig(`${BASE}    match: { pathRegex: "^/a" }\n`.replace('    match: { path: /x }\n', ''), 'x.yaml');
    assert.deepEqual(structuredClone(cfg), cfg);
    assert.equal(cfg.routes[0]!.match.pathRegex, '^/a');
  });

  test('a JSON file loads through the same parser', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wicket-config-'));
    try {
      const file = join(dir, 'gw.json');
      await writeFile(
        file,
        JSON.stringify({
          listen: { http: { port: 80 } },
          routes: [{ name: 'h', match: { path: '/' }, respond: { status: 204 } }],
        }),
      );
      const cfg = await loadConfig(file, {});
      assert.equal(cfg.routes[0]!.respond!.status, 204);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseConfig: schema errors', () => {
  test('unknown key: points at the key', () => {
    const text = BASE.replace('match: { path: /x }', 'match:\n      path: /x\n      paht: /y');
    const e = errorAt(errorsOf(text), 'routes[0].match.paht');
    assert.deepEqual(e, { path: 'routes[0].match.paht', message: 'unknown key "paht"', line: lineOf(text, 'paht:') });
  });

  test('unknown top-level key', () => {
    const text = `${BASE}extra: 1\n`;
    assert.deepEqual(errorAt(errorsOf(text), 'extra'), { path: 'extra', message: 'unknown key "extra"', line: 10 });
  });

  test('wrong type, with line', () => {
    const text = `${BASE}workers: many\n`;
    assert.deepEqual(errorAt(errorsOf(text), 'workers'), {
      path: 'workers',
      message: 'must be integer',
      line: lineOf(text, 'workers:'),
    });
  });

  test('bad enum: one message listing the choices', () => {
    const text = BASE.replace('  api:\n', '  api:\n    balancer: fastest\n');
    const errors = errorsOf(text);
    assert.equal(errors.length, 1);
    assert.deepEqual(errors[0], {
      path: 'upstreams.api.balancer',
      message:
        'must be one of round-robin, weighted-round-robin, least-connections, p2c-ewma, consistent-hash, random',
      line: lineOf(text, 'balancer:'),
    });
  });

  test('missing required key: points at the parent object', () => {
    const text = BASE.replace('listen: { http: { port: 8080 } }', 'listen:\n  http:\n    host: 0.0.0.0');
    assert.deepEqual(errorAt(errorsOf(text), 'listen.http'), {
      path: 'listen.http',
      message: 'missing required key "port"',
      line: lineOf(text, 'host: 0.0.0.0'),
    });
  });

  test('union values: the branch the value was meant for is reported', () => {
    const text = BASE.replace('{ path: /x }', '{ path: /x, headers: { a: { regex: 1 }, b: [] } }');
    const errors = errorsOf(text);
    assert.equal(errorAt(errors, 'routes[0].match.headers.a.regex').message, 'must be string');
    assert.equal(
      errorAt(errors, 'routes[0].match.headers.b').message,
      'must be a string, an object with "regex" or an object with "present"',
    );
    assert.equal(errors.length, 2);
  });

  test('invalid upstream name', () => {
    const text = BASE.replace('  api:', '  "my api":').replace('upstream: api', 'upstream: "my api"');
    const e = errorAt(errorsOf(text), 'upstreams["my api"]');
    assert.match(e.message, /^invalid name "my api": must contain only/);
    assert.equal(e.line, lineOf(text, '"my api":'));
  });

  test('empty file', () => {
    assert.deepEqual(errorsOf(''), [{ path: '', message: 'must be object', line: 1 }]);
  });
});

describe('parseConfig: semantic errors', () => {
  test('unknown upstream reference, with line', () => {
    const text = BASE.replace('upstream: api', 'upstream: nope');
    assert.deepEqual(errorsOf(text), [
      { path: 'routes[0].upstream', message: 'unknown upstream "nope"', line: lineOf(text, 'upstream: nope') },
    ]);
  });

  test('an inherited property name is not an upstream', () => {
    const text = BASE.replace('upstream: api', 'upstream: constructor');
    assert.equal(errorAt(errorsOf(text), 'routes[0].upstream').message, 'unknown upstream "constructor"');
  });

  test('duplicate route names', () => {
    const text = `${BASE}  - name: r\n    match: { path: /y }\n    upstream: api\n`;
    assert.deepEqual(errorsOf(text), [
      { path: 'routes[1].name', message: 'duplicate route name "r" (also routes[0])', line: 10 },
    ]);
  });

  test('both upstream and respond', () => {
    const text = BASE.replace('upstream: api', 'upstream: api\n    respond: { status: 200 }');
    assert.deepEqual(errorAt(errorsOf(text), 'routes[0]'), {
      path: 'routes[0]',
      message: 'must have exactly one of "upstream", "respond" or "pubsub"',
      line: lineOf(text, '- name: r'),
    });
  });

  test('neither upstream nor respond', () => {
    const text = BASE.replace('    upstream: api\n', '');
    assert.equal(errorAt(errorsOf(text), 'routes[0]').message, 'must have "upstream", "respond" or "pubsub"');
  });

  test('match needs path or pathRegex', () => {
    const text = BASE.replace('{ path: /x }', '{ methods: [GET] }');
    assert.equal(errorAt(errorsOf(text), 'routes[0].match').message, 'must have "path" or "pathRegex"');
  });

  test('invalid regexes, and replacement without regex', () => {
    const text = `${BASE.replace(
      '    match: { path: /x }\n',
      `    match:
      pathRegex: "^/(a"
      headers: { x-a: { regex: "[" } }
      query: { q: { regex: "*" } }
    rewrite: { regex: "(?<n", replacement: x }
`,
    )}  - name: r2
    match: { path: /y }
    upstream: api
    rewrite: { replacement: x }
`;
    const errors = errorsOf(text);
    for (const [path, needle] of [
      ['routes[0].match.pathRegex', 'pathRegex:'],
      ['routes[0].match.headers["x-a"].regex', 'x-a:'],
      ['routes[0].match.query.q.regex', 'query:'],
      ['routes[0].rewrite.regex', 'rewrite: { regex'],
    ] as const) {
      const e = errorAt(errors, path);
      assert.match(e.message, /^invalid regex: /);
      assert.equal(e.line, lineOf(text, needle));
    }
    assert.deepEqual(errorAt(errors, 'routes[1].rewrite.replacement'), {
      path: 'routes[1].rewrite.replacement',
      message: 'only allowed with "regex"',
      line: lineOf(text, 'rewrite: { replacement'),
    });
    assert.equal(errors.length, 5);
  });

  test('path wildcards and parameters', () => {
    const cases: [string, string | undefined][] = [
      ['/api/*', undefined],
      ['/*', undefined],
      ['/users/:id/posts/:postId', undefined],
      ['/v1/users:batch', undefined],
      ['/api*', '"*" is only allowed as a final "/*" segment'],
      ['/a/*/b', '"*" is only allowed as a final "/*" segment'],
      ['/a/:1x', 'invalid parameter ":1x" (must be an identifier)'],
      ['/a/:', 'invalid parameter ":" (must be an identifier)'],
      ['/a/:id/:id', 'duplicate parameter ":id"'],
    ];
    for (const [path, message] of cases) {
      const text = BASE.replace('{ path: /x }', `{ path: "${path}" }`);
      if (message === undefined) {
        assert.doesNotThrow(() => parseConfig(text, 'x.yaml'), path);
      } else {
        assert.deepEqual(errorsOf(text), [{ path: 'routes[0].match.path', message, line: 8 }], path);
      }
    }
  });

  test('bad target URLs', () => {
    const cases: [string, string][] = [
      ['http://', 'invalid URL "http://"'],
      ['http://h:1/base', 'must not have a path ("/base"); use rewrite.addPrefix'],
      ['http://h:1/?a=1', 'must not have a query or fragment'],
      ['http://h:1#x', 'must not have a query or fragment'],
      ['http://u:p@h:1', 'must not contain credentials'],
      ['ftp://h', 'must be an http:// or https:// URL'],
    ];
    for (const [url, message] of cases) {
      const text = BASE.replace('http://127.0.0.1:9000', `"${url}"`);
      assert.deepEqual(errorsOf(text), [{ path: 'upstreams.api.targets[0].url', message, line: 5 }], url);
    }
  });

  test('balancing, health and breaker policies', () => {
    const text = `listen: { http: { port: 8080 } }
upstreams:
  api:
    balancer: round-robin
    hashOn: header:x-user
    targets: [{ url: "http://127.0.0.1:9000" }]
    healthCheck: { type: tcp, path: /h, intervalMs: 100, timeoutMs: 200 }
    outlierDetection: { baseEjectionMs: 5000, maxEjectionMs: 1000 }
    circuitBreaker: { failureRatio: 0 }
routes:
  - name: r
    match: { path: /x }
    respond: { status: 200 }
    retry: { attempts: 1 }
`;
    const errs = errorsOf(text);
    assert.equal(errorAt(errs, 'upstreams.api.hashOn').message, 'hashOn applies only to balancer consistent-hash');
    assert.equal(errorAt(errs, 'upstreams.api.healthCheck.timeoutMs').message, 'must not exceed intervalMs (100)');
    assert.equal(errorAt(errs, 'upstreams.api.healthCheck.type').message, 'tcp checks take no path, host or expectStatus');
    assert.equal(errorAt(errs, 'upstreams.api.outlierDetection.maxEjectionMs').message, 'must be at least baseEjectionMs (5000)');
    assert.match(errorAt(errs, 'upstreams.api.circuitBreaker').message, /could never open/);
    assert.equal(errorAt(errs, 'routes[0].retry').message, 'retry applies only to proxied routes');
    assert.equal(errorAt(errs, 'upstreams.api.hashOn').line, lineOf(text, 'hashOn'));
  });

  /** One proxied route `r` with these limit lines (YAML flow maps, one per line). */
  const limitsConfig = (limits: string[], redis = false): string => `listen: { http: { port: 8080 } }
${redis ? 'rateLimit:\n  redis: { url: "redis://127.0.0.1:6379" }\n' : ''}upstreams:
  api: { targets: [{ url: "http://127.0.0.1:9000" }] }
routes:
  - name: r
    match: { path: /x }
    upstream: api
    rateLimit:
      limits:
${limits.map((l) => `        - ${l}\n`).join('')}`;

  test('rate limits: the exact sliding log only on the global tier, and bounded', () => {
    const text = limitsConfig(
      [
        '{ name: local-log, algorithm: sliding-log, limit: 10, windowMs: 1000 }',
        '{ name: big-log, algorithm: sliding-log, limit: 200000, windowMs: 1000, tier: global }',
        '{ name: ok-log, algorithm: sliding-log, limit: 100000, windowMs: 60000, tier: global }',
      ],
      true,
    );
    const errs = errorsOf(text);
    assert.match(errorAt(errs, 'routes[0].rateLimit.limits[0].algorithm').message, /sliding-log .* needs tier: global/);
    assert.equal(errorAt(errs, 'routes[0].rateLimit.limits[0].algorithm').line, lineOf(text, 'local-log'));
    assert.match(errorAt(errs, 'routes[0].rateLimit.limits[1].limit').message, /at most 100000/);
    assert.equal(errs.length, 2, JSON.stringify(errs));
  });

  test('rate limits: a fixed cost above what the limit can ever admit is refused', () => {
    const text = limitsConfig([
      '{ name: a, limit: 10, windowMs: 1000, burst: 2, cost: 3 }',
      '{ name: b, algorithm: fixed-window, limit: 5, windowMs: 1000, cost: 6 }',
      '{ name: c, limit: 10, windowMs: 1000, cost: 10 }',
    ]);
    const errs = errorsOf(text);
    assert.equal(errorAt(errs, 'routes[0].rateLimit.limits[0].cost').message, 'cost 3 is more than the burst (2): no request could ever pass');
    assert.equal(errorAt(errs, 'routes[0].rateLimit.limits[0].cost').line, lineOf(text, 'name: a'));
    assert.equal(errorAt(errs, 'routes[0].rateLimit.limits[1].cost').message, 'cost 6 is more than the limit (5): no request could ever pass');
    assert.equal(errs.length, 2, JSON.stringify(errs));
  });

  test('listeners need their own ports', () => {
    const text = BASE.replace('listen: { http: { port: 8080 } }', 'listen: { http: { port: 8080 }, h2c: { port: 8080 } }');
    const errs = errorsOf(text);
    assert.equal(errorAt(errs, 'listen.h2c.port').message, "port 8080 is already listen.http's");
    const zero = errorsOf(BASE.replace('listen: { http: { port: 8080 } }', 'listen: { http: { port: 0 } }'));
    assert.match(errorAt(zero, 'listen.http.port').message, /^port 0 is not allowed/);
    assert.equal(errorAt(zero, 'listen.http.port').line, lineOf(BASE, 'listen:'));
    const admin = errorsOf(`${BASE.replace('listen: { http: { port: 8080 } }', 'listen: { http: { port: 9000 } }')}admin: { port: 9000 }\n`);
    assert.equal(errorAt(admin, 'admin.port').message, "port 9000 is already listen.http's");
    const adminDefault = errorsOf(BASE.replace('listen: { http: { port: 8080 } }', 'listen: { http: { port: 9901 } }'));
    assert.equal(errorAt(adminDefault, 'admin').message, "port 9901 is already listen.http's");
    const tls = errorsOf(BASE.replace('listen: { http: { port: 8080 } }', 'listen: { http: { port: 8080 }, https: { port: 8443, cert: /nonexistent/cert.pem, key: /nonexistent/key.pem } }'));
    assert.equal(errorAt(tls, 'listen.https.cert').message, 'cannot read /nonexistent/cert.pem');
    assert.equal(errorAt(tls, 'listen.https.key').message, 'cannot read /nonexistent/key.pem');
  });

  test('more targets than the shared-memory segment holds', () => {
    const targets = Array.from({ length: 17 }, (_, i) => `{ url: "http://127.0.0.1:${9000 + i}" }`).join(', ');
    const text = `listen: { http: { port: 8080 } }\nstate: { targets: 16 }\nupstreams:\n  api: { targets: [${targets}] }\nroutes: []\n`;
    assert.equal(errorAt(errorsOf(text), 'upstreams').message, '17 targets in all, more than state.targets (16)');
  });

  test('policies resolve with their defaults', () => {
    const cfg = parseConfig(
      `listen: { http: { port: 8080 } }
upstreams:
  api:
    balancer: consistent-hash
    hashOn: header:X-User
    targets: [{ url: "http://127.0.0.1:9000" }]
    healthCheck: { path: /healthz }
    circuitBreaker: { consecutiveFailures: 3 }
routes:
  - { name: r, match: { path: /x }, upstream: api, retry: { attempts: 2, on: [timeout] } }
`,
      'x.yaml',
    );
    const u = cfg.upstreams.api!;
    assert.equal(u.hashOn, 'header:x-user');
    assert.deepEqual(u.healthCheck, { type: 'http', path: '/healthz', intervalMs: 5000, timeoutMs: 2000, healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: [] });
    assert.deepEqual(u.circuitBreaker, { failureRatio: 0.5, consecutiveFailures: 3, minRequests: 20, windowMs: 10_000, openMs: 5000, halfOpenRequests: 3 });
    assert.equal(u.outlierDetection, undefined);
    assert.deepEqual(cfg.routes[0]!.retry, { attempts: 2, on: ['timeout'], statuses: [], nonIdempotent: false, backoffMs: 25, budgetRatio: 0.2, budgetMin: 3 });
  });

  test('duplicate targets within an upstream', () => {
    const text = BASE.replace('      - url: http://127.0.0.1:9000\n', '      - url: http://h:80\n      - url: http://h/\n');
    assert.deepEqual(errorsOf(text), [
      { path: 'upstreams.api.targets[1].url', message: 'duplicate target http://h (also targets[0])', line: 6 },
    ]);
  });

  test('host patterns', () => {
    const ok = BASE.replace('{ path: /x }', '{ path: /x, host: ["*.Example.com", localhost, 10.0.0.1] }');
    assert.deepEqual(parseConfig(ok, 'x.yaml').routes[0]!.match.host, ['*.example.com', 'localhost', '10.0.0.1']);
    const bad = BASE.replace('{ path: /x }', '{ path: /x, host: [ok.com, "a.com:80", "*", "-a.com"] }');
    const errors = errorsOf(bad);
    assert.deepEqual(
      errors.map((e) => e.path),
      ['routes[0].match.host[1]', 'routes[0].match.host[2]', 'routes[0].match.host[3]'],
    );
    assert.equal(errors[0]!.message, 'invalid host "a.com:80": must be a host name or "*.suffix" (no port)');
  });

  test('every error is reported at once', () => {
    const text = BASE.replace('port: 8080', 'port: 99999').replace('upstream: api', 'upstream: nope') + 'bogus: 1\n';
    const errors = errorsOf(text, { WICKET_WORKERS: 'x' });
    assert.deepEqual(
      errors.map((e) => e.path),
      ['listen.http.port', 'routes[0].upstream', 'bogus', 'env.WICKET_WORKERS'],
    );
  });
});

describe('parseConfig: syntax errors and JSON', () => {
  test('YAML syntax error carries its line', () => {
    const text = 'listen:\n  http: { port: 8080 }\nroutes: [\n  - name: a\n';
    const errors = errorsOf(text);
    assert.ok(errors.length >= 1);
    assert.equal(errors[0]!.path, '');
    assert.equal(typeof errors[0]!.line, 'number');
    assert.ok(errors[0]!.line! >= 3, JSON.stringify(errors));
  });

  test('duplicate keys are syntax errors', () => {
    const text = 'listen: { http: { port: 1 } }\nroutes: []\nroutes: []\n';
    assert.deepEqual(
      errorsOf(text).map((e) => e.line),
      [3],
    );
  });

  test('JSON: errors carry lines', () => {
    const text = JSON.stringify(
      {
        listen: { http: { port: 8080 } },
        routes: [{ name: 'a', match: { path: '/a' }, upstream: 'missing' }],
      },
      null,
      2,
    );
    assert.deepEqual(errorsOf(text, {}, 'x.json'), [
      { path: 'routes[0].upstream', message: 'unknown upstream "missing"', line: lineOf(text, '"upstream"') },
    ]);
  });

  test('JSON: syntax error carries its line', () => {
    const text = '{\n  "listen": {"http": {"port": 1}},\n  "routes": [\n    {"name": "a",, }\n  ]\n}\n';
    const errors = errorsOf(text, {}, 'x.json');
    assert.equal(errors[0]!.line, 4);
  });
});

describe('environment overrides', () => {
  test('valid overrides win over the file', () => {
    const cfg = parseConfig(BASE, 'x.yaml', {
      WICKET_WORKERS: '3',
      WICKET_HTTP_HOST: '::',
      WICKET_HTTP_PORT: '8181',
      WICKET_ADMIN_HOST: '0.0.0.0',
      WICKET_ADMIN_PORT: '9999',
      WICKET_LOG_LEVEL: 'debug',
      WICKET_ACCESS_LOG: 'off',
      UNRELATED: 'x',
    });
    assert.equal(cfg.workers, 3);
    assert.deepEqual(cfg.listen.http, { host: '::', port: 8181 });
    assert.deepEqual(cfg.admin, { host: '0.0.0.0', port: 9999 });
    assert.deepEqual(cfg.log, { level: 'debug', access: false });
  });

  test('access log spellings; empty means unset', () => {
    for (const [raw, want] of [['on', true], ['TRUE', true], ['1', true], ['Off', false], ['false', false], ['0', false]] as const) {
      assert.equal(parseConfig(`${BASE}log: { access: ${!want} }\n`, 'x.yaml', { WICKET_ACCESS_LOG: raw }).log.access, want);
    }
    assert.equal(parseConfig(`${BASE}workers: 4\n`, 'x.yaml', { WICKET_WORKERS: '' }).workers, 4);
  });

  test('invalid overrides are errors at env.NAME without a line', () => {
    const errors = errorsOf(BASE, {
      WICKET_WORKERS: '0',
      WICKET_HTTP_PORT: '65536',
      WICKET_ADMIN_PORT: '12ab',
      WICKET_LOG_LEVEL: 'loud',
      WICKET_ACCESS_LOG: 'yes',
    });
    assert.deepEqual(
      errors.map((e) => e.path),
      ['env.WICKET_WORKERS', 'env.WICKET_HTTP_PORT', 'env.WICKET_ADMIN_PORT', 'env.WICKET_LOG_LEVEL', 'env.WICKET_ACCESS_LOG'],
    );
    assert.ok(errors.every((e) => e.line === undefined));
    assert.equal(errors[3]!.message, 'must be one of fatal, error, warn, info, debug, trace, silent, got "loud"');
  });
});

describe('formatConfigErrors and loadConfig', () => {
  test('one line per error: FILE: path: message (line N)', () => {
    const err = new ConfigInvalidError('config/x.yaml', [
      { path: 'routes[0].upstream', message: 'unknown upstream "nope"', line: 12 },
      { path: '', message: 'must be object', line: 1 },
      { path: 'env.WICKET_WORKERS', message: 'must be an integer from 1 to 256, got "0"' },
    ]);
    assert.deepEqual(formatConfigErrors(err), [
      'config/x.yaml: routes[0].upstream: unknown upstream "nope" (line 12)',
      'config/x.yaml: (root): must be object (line 1)',
      'config/x.yaml: env.WICKET_WORKERS: must be an integer from 1 to 256, got "0"',
    ]);
  });

  test('a parse error formats with its file', () => {
    const text = BASE.replace('upstream: api', 'upstream: nope');
    try {
      parseConfig(text, 'config/x.yaml');
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(e instanceof ConfigInvalidError);
      assert.deepEqual(formatConfigErrors(e), ['config/x.yaml: routes[0].upstream: unknown upstream "nope" (line 9)']);
    }
  });

  test('an unreadable file is a ConfigInvalidError naming the file', async () => {
    const missing = join(tmpdir(), 'wicket-no-such-config.yaml');
    await assert.rejects(loadConfig(missing, {}), (e: unknown) => {
      assert.ok(e instanceof ConfigInvalidError);
      assert.equal(e.errors.length, 1);
      assert.equal(e.errors[0]!.path, '');
      assert.match(e.errors[0]!.message, /wicket-no-such-config\.yaml: ENOENT/);
      return true;
    });
  });
});
