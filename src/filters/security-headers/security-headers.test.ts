import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../observability/logger.js';
import { RequestContext, type ListenerInfo } from '../../pipeline/context.js';
import type { Filter } from '../../pipeline/filter.js';
import { checkSchema } from '../../config/check-schema.js';
import { PRESETS, securityHeadersFilter } from './index.js';

const listener = (scheme: 'http' | 'https'): ListenerInfo => ({ name: scheme, scheme, http2: false, upgrade: false, looseChunked: false });

function compile(cfg: Record<string, unknown>): Filter | null {
  return securityHeadersFilter.compile({ name: 'site', kind: 'proxy', upstreamProtocol: 'http1', config: { securityHeaders: cfg } }, { store: null as never, services: new Map(), clientIp: (c) => c.remoteAddress, log: createLogger('silent', 'test') });
}

function headersFor(f: Filter, scheme: 'http' | 'https', upstream: string[]): Record<string, string[]> {
  const ctx = new RequestContext(0);
  ctx.listener = listener(scheme);
  const head = { status: 200, headers: [...upstream] };
  f.onResponseHeaders!(ctx, head);
  const out: Record<string, string[]> = {};
  for (let i = 0; i < head.headers.length; i += 2) (out[head.headers[i]!] ??= []).push(head.headers[i + 1]!);
  return out;
}

test('securityHeaders: the strict preset replaces what the upstream sent; HSTS only over https', () => {
  const f = compile({ preset: 'strict' })!;
  const upstream = ['content-type', 'text/html', 'x-frame-options', 'ALLOWALL', 'x-frame-options', 'SAMEORIGIN', 'referrer-policy', 'unsafe-url'];
  const https = headersFor(f, 'https', upstream);
  assert.deepEqual(https['x-frame-options'], ['DENY'], 'every upstream value of a managed name is replaced');
  assert.deepEqual(https['referrer-policy'], ['no-referrer']);
  assert.deepEqual(https['content-type'], ['text/html'], 'other headers untouched');
  assert.deepEqual(https['strict-transport-security'], ['max-age=31536000; includeSubDomains']);
  for (const [k, v] of Object.entries(PRESETS.strict)) assert.deepEqual(https[k], [v], k);
  assert.match(https['content-security-policy']![0]!, /frame-ancestors 'none'/);
  const http = headersFor(f, 'http', upstream);
  assert.equal(http['strict-transport-security'], undefined, 'no HSTS on plain HTTP');
  assert.deepEqual(http['cross-origin-opener-policy'], ['same-origin']);
});

test('securityHeaders: basic by default; overrides set a value or leave a header alone (false)', () => {
  const f = compile({ headers: { 'x-frame-options': false, 'content-security-policy': "frame-ancestors 'self'; default-src 'self'", 'x-extra': 'on' } })!;
  const h = headersFor(f, 'https', ['x-frame-options', 'SAMEORIGIN', 'content-security-policy', "script-src 'unsafe-inline'"]);
  assert.deepEqual(h['x-frame-options'], ['SAMEORIGIN'], 'false: the upstream value passes, the preset adds none');
  assert.deepEqual(h['content-security-policy'], ["frame-ancestors 'self'; default-src 'self'"]);
  assert.deepEqual(h['x-extra'], ['on']);
  assert.deepEqual(h['x-content-type-options'], ['nosniff']);
  assert.deepEqual(h['referrer-policy'], [PRESETS.basic['referrer-policy']]);
  assert.equal(h['permissions-policy'], undefined, 'basic sends no Permissions-Policy');
  assert.equal(compile({ preset: 'basic', headers: Object.fromEntries(Object.keys(PRESETS.basic).map((k) => [k, false])) }), null, 'nothing left to set: no filter');
  assert.equal(securityHeadersFilter.compile({ name: 'x', kind: 'proxy', upstreamProtocol: 'http1', config: {} }, { store: null as never, services: new Map(), clientIp: (c) => c.remoteAddress, log: createLogger('silent', 'test') }), null);
});

test('securityHeaders: the schema refuses unknown presets, framing headers and control bytes in values', () => {
  const base = (sh: string) => ({
    listen: { http: { port: 8080 } },
    routes: [{ name: 'r', match: { path: '/x' }, respond: { status: 200 }, securityHeaders: JSON.parse(sh) }],
  });
  const paths = (sh: string) => checkSchema(base(sh)).map((i) => i.at.join('.'));
  assert.deepEqual(paths('{"preset":"strict","headers":{"x-a":"b"}}'), []);
  assert.ok(paths('{"preset":"paranoid"}').some((p) => p.startsWith('routes.0.securityHeaders')));
  assert.ok(paths('{"headers":{"content-length":"1"}}').some((p) => p.startsWith('routes.0.securityHeaders')));
  assert.ok(paths('{"headers":{"x-a":"b\\r\\nx: y"}}').some((p) => p.startsWith('routes.0.securityHeaders')));
  assert.ok(paths('{"headers":{"x-a":true}}').some((p) => p.startsWith('routes.0.securityHeaders')));
});
