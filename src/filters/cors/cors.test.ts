import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../observability/logger.js';
import { RequestContext } from '../../pipeline/context.js';
import type { Filter, LocalReply, RouteSpec } from '../../pipeline/filter.js';
import { corsFilter } from './index.js';

const env = { store: null as never, services: new Map(), clientIp: (c: { remoteAddress: string }) => c.remoteAddress, log: createLogger('silent', 'test') };
const spec = (config: Record<string, unknown>): RouteSpec => ({ name: 'r', kind: 'proxy', upstreamProtocol: 'http1', config });

function ctx(method: string, headers: string[]): RequestContext {
  const c = new RequestContext(0);
  c.method = method;
  c.headers = headers;
  return c;
}
const get = (h: readonly string[], k: string) => {
  const i = h.indexOf(k);
  return i < 0 ? undefined : h[i + 1];
};

test('cors: preflight answered for an allowed origin, refused for others; actual responses get the headers', () => {
  const f = corsFilter.compile(
    spec({ cors: { allowOrigins: ['https://app.example'], allowMethods: ['GET', 'PUT'], allowHeaders: ['x-token'], exposeHeaders: ['x-up'], allowCredentials: true, maxAgeSeconds: 60 } }),
    env,
  ) as Filter;
  const pre = f.onRequest!(ctx('OPTIONS', ['origin', 'https://app.example', 'access-control-request-method', 'PUT', 'access-control-request-headers', 'X-Token'])) as LocalReply & { headers: string[] };
  assert.equal((pre as { status: number }).status, 204);
  assert.equal(get(pre.headers, 'access-control-allow-origin'), 'https://app.example');
  assert.equal(get(pre.headers, 'access-control-allow-credentials'), 'true');
  assert.equal(get(pre.headers, 'access-control-max-age'), '60');
  assert.deepEqual(f.onRequest!(ctx('OPTIONS', ['origin', 'https://evil.example', 'access-control-request-method', 'PUT'])), { error: 'WICKET_ERR_CORS_REJECTED' });
  assert.deepEqual(f.onRequest!(ctx('OPTIONS', ['origin', 'https://app.example', 'access-control-request-method', 'DELETE'])), { error: 'WICKET_ERR_CORS_REJECTED' });
  assert.deepEqual(f.onRequest!(ctx('OPTIONS', ['origin', 'https://app.example', 'access-control-request-method', 'GET', 'access-control-request-headers', 'x-other'])), { error: 'WICKET_ERR_CORS_REJECTED' });

  const c = ctx('GET', ['origin', 'https://app.example']);
  assert.equal(f.onRequest!(c), undefined);
  const head = { status: 200, headers: ['access-control-allow-origin', '*', 'vary', 'accept', 'x-up', '1'] };
  f.onResponseHeaders!(c, head);
  assert.equal(get(head.headers, 'access-control-allow-origin'), 'https://app.example', "the upstream's own CORS answer is replaced");
  assert.equal(get(head.headers, 'access-control-expose-headers'), 'x-up');
  assert.equal(get(head.headers, 'vary'), 'accept, origin');

  const evil = ctx('GET', ['origin', 'https://evil.example']);
  f.onRequest!(evil);
  const h2 = { status: 200, headers: [] as string[] };
  f.onResponseHeaders!(evil, h2);
  assert.equal(get(h2.headers, 'access-control-allow-origin'), undefined);
});

test('cors: grpcWeb.corsOrigins compiles to CORS exposing every response header', () => {
  const f = corsFilter.compile({ ...spec({ grpcWeb: { corsOrigins: ['*'] } }), upstreamProtocol: 'h2' }, env) as Filter;
  const c = ctx('POST', ['origin', 'https://any.example']);
  f.onRequest!(c);
  const head = { status: 200, headers: ['x-meta', 'v', 'content-type', 'application/grpc-web'] };
  f.onResponseHeaders!(c, head);
  assert.equal(get(head.headers, 'access-control-allow-origin'), '*');
  assert.match(get(head.headers, 'access-control-expose-headers')!, /grpc-status.*x-meta|x-meta.*grpc-status/);
  assert.equal(corsFilter.compile(spec({}), env), null);
});
