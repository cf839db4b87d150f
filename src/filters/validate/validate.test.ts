import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../observability/logger.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { RequestContext, type ListenerInfo } from '../../pipeline/context.js';
import type { Decision, Filter, LocalReply } from '../../pipeline/filter.js';
import { ConfigInvalidError, parseConfig } from '../../config/load.js';
import { loadValidate } from './load.js';
import { fromOas30 } from './oas30.js';
import { validateFilter } from './index.js';

// Tests run from dist/src/filters/validate/; the fixtures stay in the source tree.
const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/', import.meta.url));
const LISTENER: ListenerInfo = { name: 'http', scheme: 'http', http2: false, upgrade: true, looseChunked: true };

function load(raw: Record<string, unknown>, dir = FIXTURES, route: Record<string, unknown> = { upstream: 'api' }): Record<string, unknown> {
  const out = loadValidate(raw, dir, route);
  assert.ok('value' in out, JSON.stringify(out));
  return out.value as Record<string, unknown>;
}

function loadIssue(raw: Record<string, unknown>, dir = FIXTURES, route: Record<string, unknown> = { upstream: 'api' }): { at: readonly (string | number)[]; message: string } {
  const out = loadValidate(raw, dir, route);
  assert.ok('issues' in out, `expected a refusal, got ${JSON.stringify(out).slice(0, 200)}`);
  return out.issues[0]!;
}

function filter(validate: Record<string, unknown>): Filter {
  const f = validateFilter.compile({ name: 'pets', kind: 'proxy', upstreamProtocol: 'http1', config: { validate } }, { store: null as never, services: new Map(), clientIp: (c) => c.remoteAddress, log: createLogger('silent', 'test') });
  assert.ok(f !== null);
  return f;
}

interface Req {
  method?: string;
  path: string;
  query?: string;
  headers?: [string, string][];
  body?: string;
  contentType?: string;
  grpc?: boolean;
}

function context(r: Req): RequestContext {
  const ctx = new RequestContext(0);
  ctx.listener = LISTENER;
  ctx.method = r.method ?? 'GET';
  ctx.path = r.path;
  ctx.query = r.query ?? '';
  ctx.requestId = 'req-1';
  ctx.headers = (r.headers ?? []).flatMap(([k, v]) => [k.toLowerCase(), v]);
  ctx.contentType = r.contentType ?? '';
  if (r.contentType !== undefined) ctx.headers.push('content-type', r.contentType);
  ctx.grpc = r.grpc ?? false;
  if (r.body !== undefined) {
    ctx.hasBody = true;
    ctx.contentLength = Buffer.byteLength(r.body);
    ctx.body = Readable.from([Buffer.from(r.body)]);
  }
  return ctx;
}

async function run(f: Filter, r: Req): Promise<{ d: Decision; ctx: RequestContext }> {
  const ctx = context(r);
  const d = await f.onRequest!(ctx);
  return { d, ctx };
}

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: { in: string; pointer: string; message: string }[];
}

function problemOf(d: Decision, status: number): Problem {
  assert.ok(d !== undefined && 'status' in d, `expected a ${status} reply, got ${JSON.stringify(d)}`);
  assert.equal(d.status, status, String(d.body));
  const h = d.headers;
  assert.equal(h[h.indexOf('content-type') + 1], 'application/problem+json');
  const p = JSON.parse(String(d.body)) as Problem;
  assert.equal(p.status, status);
  assert.equal(p.requestId, 'req-1');
  return p;
}

const violations = (d: Decision): { in: string; pointer: string }[] => problemOf(d, 400).errors!.map((e) => ({ in: e.in, pointer: e.pointer }));

const v31 = () => filter(load({ openapi: 'petstore-3.1.yaml' }));

test('validate: a valid OpenAPI 3.1 request continues; parameters are read by style and coerced', async () => {
  const f = v31();
  assert.equal((await run(f, { path: '/pets', query: 'limit=5&tags=ab&tags=cd' })).d, undefined);
  assert.equal((await run(f, { path: '/pets/mine' })).d, undefined, 'the concrete path wins over /pets/{petId}');
  assert.equal((await run(f, { path: '/pets/7' })).d, undefined);
  assert.equal((await run(f, { method: 'HEAD', path: '/pets/7' })).d, undefined, 'HEAD is checked as the GET operation');
  assert.equal((await run(f, { method: 'POST', path: '/uploads/abc.json' })).d, undefined, 'a template inside a segment; the body is optional');
  const body = '{"pet":{"name":"Rex","tag":null,"owner":{"email":"a@b.example"}}}';
  const { d, ctx } = await run(f, { method: 'POST', path: '/pets', headers: [['X-Tenant', 'acme']], contentType: 'application/json; charset=utf-8', body });
  assert.equal(d, undefined);
  assert.ok(ctx.wholeBody !== null, 'the body was read through ctx.readBody');
  assert.equal((await ctx.wholeBody).toString(), body, 'the proxy gets the same bytes');
  assert.equal((await run(f, { method: 'POST', path: '/pets', headers: [['x-tenant', 'acme']], contentType: 'application/merge-patch+json', body })).d, undefined);
  const text = await run(f, { method: 'PUT', path: '/pets/7', contentType: 'text/plain', body: 'not json' });
  assert.equal(text.d, undefined, 'a listed non-JSON media type passes unchecked');
  assert.equal(text.ctx.wholeBody, null, 'and its body is not read');
});

test('validate: each kind of violation with its location and pointer', async () => {
  const f = v31();
  assert.deepEqual(violations((await run(f, { path: '/pets' })).d), [{ in: 'query', pointer: 'limit' }]);
  const wrong = problemOf((await run(f, { path: '/pets', query: 'limit=abc' })).d, 400);
  assert.equal(wrong.code, 'WICKET_ERR_VALIDATION');
  assert.equal(wrong.type, 'urn:wicket:error:WICKET_ERR_VALIDATION');
  assert.match(wrong.detail, /GET \/pets/);
  assert.deepEqual(wrong.errors, [{ in: 'query', pointer: 'limit', message: 'must be integer' }]);
  assert.deepEqual(violations((await run(f, { path: '/pets', query: 'limit=500' })).d), [{ in: 'query', pointer: 'limit' }]);
  assert.deepEqual(violations((await run(f, { path: '/pets', query: 'limit=1&tags=ok&tags=x' })).d), [{ in: 'query', pointer: 'tags/1' }]);
  assert.deepEqual(violations((await run(f, { path: '/pets/abc' })).d), [{ in: 'path', pointer: 'petId' }]);
  assert.deepEqual(violations((await run(f, { path: '/pets/0' })).d), [{ in: 'path', pointer: 'petId' }]);
  const json = '{"pet":{"name":"Rex"}}';
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/pets', contentType: 'application/json', body: json })).d), [{ in: 'header', pointer: 'X-Tenant' }]);
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/pets', headers: [['x-tenant', 'NOT OK']], contentType: 'application/json', body: json })).d), [{ in: 'header', pointer: 'X-Tenant' }]);
  const tenant: [string, string][] = [['x-tenant', 'acme']];
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/pets', headers: tenant })).d), [{ in: 'body', pointer: '' }], 'a required body is missing');
  const nested = problemOf((await run(f, { method: 'POST', path: '/pets', headers: tenant, contentType: 'application/json', body: '{"pet":{"name":"","tag":5,"owner":{"email":"nope"},"extra":1}}' })).d, 400);
  assert.deepEqual(
    nested.errors!.map((e) => e.pointer).sort(),
    ['/pet/extra', '/pet/name', '/pet/owner/email', '/pet/tag'],
    JSON.stringify(nested.errors),
  );
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/pets', headers: tenant, contentType: 'application/json', body: '{"pet":{}}' })).d), [{ in: 'body', pointer: '/pet/name' }], 'a missing member points at the member');
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/pets', headers: tenant, contentType: 'application/json', body: '{"pet":' })).d), [{ in: 'body', pointer: '' }], 'not JSON');
  const ct = problemOf((await run(f, { method: 'POST', path: '/pets', headers: tenant, contentType: 'text/plain', body: 'x' })).d, 415);
  assert.equal(ct.code, 'WICKET_ERR_UNSUPPORTED_MEDIA_TYPE');
  assert.match(ct.detail, /application\/json/);
  problemOf((await run(f, { method: 'POST', path: '/pets', headers: tenant, body: '{}' })).d, 415);
});

test('validate: unknown operations: 404 / 405 with Allow, or pass; a path prefix; gRPC gets a status', async () => {
  const f = v31();
  const nf = problemOf((await run(f, { path: '/owners' })).d, 404);
  assert.equal(nf.code, 'WICKET_ERR_OPERATION_NOT_FOUND');
  const r = (await run(f, { method: 'PATCH', path: '/pets/3' })).d as LocalReply & { headers: string[] };
  assert.equal(problemOf(r, 405).code, 'WICKET_ERR_OPERATION_METHOD_NOT_ALLOWED');
  assert.equal(r.headers[r.headers.indexOf('allow') + 1], 'GET, PUT, DELETE, HEAD');
  const pass = filter(load({ openapi: 'petstore-3.1.yaml', unknownOperation: 'pass' }));
  assert.equal((await run(pass, { path: '/owners' })).d, undefined);
  assert.equal((await run(pass, { method: 'PATCH', path: '/pets/3' })).d, undefined);
  assert.deepEqual(violations((await run(pass, { path: '/pets' })).d), [{ in: 'query', pointer: 'limit' }], 'known operations are still checked');
  const prefixed = filter(load({ openapi: 'petstore-3.1.yaml', pathPrefix: '/api/v1/' }));
  assert.equal((await run(prefixed, { path: '/api/v1/pets/7' })).d, undefined);
  problemOf((await run(prefixed, { path: '/pets/7' })).d, 404);
  const g = await run(f, { method: 'POST', path: '/pets', headers: [['x-tenant', 'acme']], contentType: 'application/grpc', body: 'x', grpc: true });
  assert.deepEqual(g.d, { error: 'WICKET_ERR_UNSUPPORTED_MEDIA_TYPE' }, 'the gateway answers gRPC requests in gRPC terms');
  assert.equal(g.ctx.errorCode, 'WICKET_ERR_UNSUPPORTED_MEDIA_TYPE');
});

test('validate: OpenAPI 3.0 schemas (nullable, boolean exclusiveMinimum) from a JSON document', async () => {
  const f = filter(load({ openapi: join(FIXTURES, 'petstore-3.0.json') }));
  assert.equal((await run(f, { path: '/pets/1' })).d, undefined);
  assert.deepEqual(violations((await run(f, { path: '/pets/0' })).d), [{ in: 'path', pointer: 'petId' }], 'exclusiveMinimum: true with minimum: 0');
  const post = (body: string) => run(f, { method: 'POST', path: '/pets', headers: [['x-tenant', 'acme']], contentType: 'application/json', body });
  assert.equal((await post('{"pet":{"name":"a","tag":null,"age":null}}')).d, undefined, 'nullable: true admits null');
  assert.deepEqual(violations((await post('{"pet":{"name":null}}')).d), [{ in: 'body', pointer: '/pet/name' }], 'without nullable, null is refused');
  assert.deepEqual(fromOas30({ type: 'integer', nullable: true, enum: [1, 2], minimum: 1, exclusiveMinimum: true }), { type: ['integer', 'null'], enum: [1, 2, null], exclusiveMinimum: 1 });
  assert.deepEqual(fromOas30({ $ref: '#/x', description: 'ignored in 3.0' }), { $ref: '#/x' });
});

test('validate: a plain JSON Schema body', async () => {
  const f = filter(load({ body: { type: 'object', required: ['id'], properties: { id: { type: 'integer' }, items: { type: 'array', items: { type: 'string' } } } } }));
  assert.equal((await run(f, { method: 'POST', path: '/x', contentType: 'application/json', body: '{"id":1}' })).d, undefined);
  assert.equal((await run(f, { method: 'POST', path: '/x', contentType: 'application/vnd.api+json', body: '{"id":1}' })).d, undefined, '+json is JSON');
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/x', contentType: 'application/json', body: '{"id":1,"items":["a",2]}' })).d), [{ in: 'body', pointer: '/items/1' }]);
  problemOf((await run(f, { method: 'POST', path: '/x', contentType: 'application/x-www-form-urlencoded', body: 'id=1' })).d, 415);
  assert.deepEqual(violations((await run(f, { method: 'POST', path: '/x' })).d), [{ in: 'body', pointer: '' }], 'bodyRequired defaults to true');
  const optional = filter(load({ body: { type: 'object' }, bodyRequired: false }));
  assert.equal((await run(optional, { method: 'GET', path: '/x' })).d, undefined);
});

test('validate: a body nested deeper than a recursive schema can walk is a violation, not a crash', async () => {
  const f = filter(load({ body: { $defs: { t: { type: 'array', items: { $ref: '#/$defs/t' } } }, $ref: '#/$defs/t' } }));
  const deep = '['.repeat(200_000) + ']'.repeat(200_000);
  const p = problemOf((await run(f, { method: 'POST', path: '/x', contentType: 'application/json', body: deep })).d, 400);
  assert.deepEqual(p.errors, [{ in: 'body', pointer: '', message: 'is nested too deeply to be checked' }]);
  assert.equal((await run(f, { method: 'POST', path: '/x', contentType: 'application/json', body: '[[],[[]]]' })).d, undefined);
});

test('validate: a body over the route limit is the body reader\'s 413, not a violation', async () => {
  const f = filter(load({ body: { type: 'object' } }));
  const ctx = context({ method: 'POST', path: '/x', contentType: 'application/json' });
  ctx.hasBody = true;
  const body = new Readable({ read() {} });
  ctx.body = body;
  const d = f.onRequest!(ctx);
  body.destroy(Object.assign(new Error('too large'), { code: 'WICKET_ERR_BODY_TOO_LARGE' }));
  assert.deepEqual(await d, { error: 'WICKET_ERR_BODY_TOO_LARGE' });
});

test('validate: config load refuses what it cannot run, naming the route path and the place in the document', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-validate-'));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  assert.match(loadIssue({ openapi: 'missing.yaml' }, dir).message, /cannot read .*missing\.yaml: ENOENT/);
  write('swagger.yaml', 'swagger: "2.0"\ninfo: { title: x, version: "1" }\npaths: {}\n');
  assert.match(loadIssue({ openapi: 'swagger.yaml' }, dir).message, /not an OpenAPI 3\.0 or 3\.1 document/);
  write('broken.yaml', 'openapi: 3.1.0\ninfo: [\n');
  assert.match(loadIssue({ openapi: 'broken.yaml' }, dir).message, /not valid YAML or JSON/);
  const doc = (paths: string) => `openapi: 3.1.0\ninfo: { title: x, version: "1" }\npaths:\n${paths}`;
  write('badschema.yaml', doc('  /a:\n    post:\n      requestBody: { content: { application/json: { schema: { type: strin } } } }\n      responses: {}\n'));
  const bad = loadIssue({ openapi: 'badschema.yaml' }, dir);
  assert.deepEqual(bad.at, ['openapi']);
  assert.match(bad.message, /\/paths\/~1a\/post\/requestBody\/content\/application~1json\/schema: invalid schema/);
  write('external.yaml', doc('  /a:\n    get:\n      parameters: [ { $ref: "other.yaml#/p" } ]\n      responses: {}\n'));
  assert.match(loadIssue({ openapi: 'external.yaml' }, dir).message, /only \$refs within the document/);
  write('undeclared.yaml', doc('  /a/{id}:\n    get: { responses: {} }\n'));
  assert.match(loadIssue({ openapi: 'undeclared.yaml' }, dir).message, /path parameter \{id\} is not declared/);
  write('dangling.yaml', doc('  /a:\n    post:\n      requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Nope" } } } }\n      responses: {}\n'));
  assert.match(loadIssue({ openapi: 'dangling.yaml' }, dir).message, /schema does not compile/);
  assert.match(loadIssue({ openapi: 'petstore-3.1.yaml', body: {} }).message, /exactly one of openapi/);
  assert.match(loadIssue({ body: { type: 'nope' } }).message, /invalid schema/);
  assert.match(loadIssue({ body: {} }, FIXTURES, { respond: { status: 200 } }).message, /proxy and websocket routes/);
});

test('validate: parseConfig resolves the document relative to the config file and reports refusals at the route path', () => {
  const cfg = (file: string) => `listen: { http: { port: 8080 } }
upstreams:
  api: { targets: [ { url: "http://127.0.0.1:9000" } ] }
routes:
  - name: pets
    match: { path: "/pets/*" }
    upstream: api
    validate: { openapi: ${file} }
`;
  const resolved = parseConfig(cfg('petstore-3.1.yaml'), join(FIXTURES, 'gateway.yaml'));
  const v = resolved.routes[0]!.validate as { document: { info: { title: string } }; file: string };
  assert.equal(v.document.info.title, 'Petstore');
  assert.equal(v.file, join(FIXTURES, 'petstore-3.1.yaml'));
  try {
    parseConfig(cfg('nope.yaml'), join(FIXTURES, 'gateway.yaml'));
    assert.fail('accepted a missing document');
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError, String(e));
    assert.equal(e.errors[0]!.path, 'routes[0].validate.openapi');
    assert.match(e.errors[0]!.message, /cannot read/);
    assert.equal(e.errors[0]!.line, 8);
  }
});
