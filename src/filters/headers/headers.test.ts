import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../observability/logger.js';
import { RequestContext } from '../../pipeline/context.js';
import type { Filter, RouteSpec } from '../../pipeline/filter.js';
import { compileTemplate, headersFilter } from './index.js';
import { TEMPLATE_PATTERN } from './schema.js';

const spec = (config: Record<string, unknown>): RouteSpec => ({ name: 'users', kind: 'proxy', upstreamProtocol: 'http1', config });

test('header rules: rename, remove, set, add, with request fields', () => {
  const f = headersFilter.compile(
    spec({
      headers: {
        request: { rename: { 'x-old': 'x-new' }, remove: ['x-drop'], set: { 'x-client': '{client_ip}', 'x-user': 'u-{param.id}' }, add: { 'x-trace': '{request_id}/{route}' } },
        response: { set: { 'x-served-by': 'wicket' }, remove: ['server'] },
      },
    }),
    { store: null as never, services: new Map(), clientIp: (c) => c.remoteAddress, log: createLogger('silent', 'test') },
  ) as Filter;
  const ctx = new RequestContext(0);
  ctx.remoteAddress = '10.0.0.1';
  ctx.requestId = 'r1';
  ctx.route = 'users';
  ctx.params = { id: '42' };
  const h = ['x-old', 'a', 'x-drop', 'b', 'x-client', 'spoofed', 'x-keep', 'c'];
  f.onUpstreamRequest!(ctx, h);
  assert.deepEqual(h, ['x-new', 'a', 'x-keep', 'c', 'x-client', '10.0.0.1', 'x-user', 'u-42', 'x-trace', 'r1/users']);
  const head = { status: 200, headers: ['server', 'nginx', 'x-served-by', 'other'] };
  f.onResponseHeaders!(ctx, head);
  assert.deepEqual(head.headers, ['x-served-by', 'wicket']);
});

test('header templates: placeholders checked by the schema pattern; request values cannot inject lines', () => {
  const re = new RegExp(TEMPLATE_PATTERN);
  assert.ok(re.test('a {client_ip} b {header.x-y} {param.id}'));
  assert.ok(!re.test('{nope}'));
  assert.ok(!re.test('a\r\nb'));
  const ctx = new RequestContext(0);
  ctx.headers = ['x-y', 'evil\r\nx: 1'];
  assert.equal(compileTemplate('v={header.x-y}')(ctx), 'v=evilx: 1');
});
