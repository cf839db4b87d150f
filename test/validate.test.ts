// The validate and securityHeaders filters in a real gateway (2 workers,
// uWS HTTP/1.1, h2c, TLS h2 and TLS HTTP/1.1) in front of a real upstream
// that records what reaches it: the Petstore-like OpenAPI 3.1 and 3.0
// documents in test/fixtures/, a plain JSON Schema route, every violation
// type with its location and pointer, bodies reaching the upstream
// byte-identical (small ones and ones larger than limits.requestBufferBytes),
// 413 over the route's limit, opt-in response checks (logged, never the
// body), security headers on upstream answers and on the gateway's own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startGateway, workerPids, ROOT, type Gateway } from './helpers/gateway.js';
import { startRecordingUpstream, type Seen, type Upstream } from './helpers/upstream.js';
import { LISTENERS, selfSigned, send, show, type Reply } from './helpers/listeners.js';
import { sleep } from './helpers/wait.js';
import * as grpc from '@grpc/grpc-js';

const FIXTURES = join(ROOT, 'test/fixtures');
/** A pet the upstream answers for GET /pets/13 that does not match the document (id must be an integer, name is required). */
const BAD_PET = '{"pet":{"tag":"secret-value-42"},"id":"thirteen"}';

const config = (port: number) => `upstreams:
  api: { targets: [ { url: "http://127.0.0.1:${port}" } ] }
routes:
  - name: pets31
    match: { path: "/v31/*" }
    upstream: api
    validate: { openapi: "${join(FIXTURES, 'petstore-3.1.yaml')}", pathPrefix: /v31, responses: true }
    securityHeaders: { preset: strict, headers: { x-frame-options: SAMEORIGIN } }
  - name: pets30
    match: { path: "/v30/*" }
    upstream: api
    validate: { openapi: "${join(FIXTURES, 'petstore-3.0.json')}", pathPrefix: /v30 }
  - name: plain
    match: { path: "/plain/*" }
    upstream: api
    maxBodyBytes: 1048576
    validate:
      body: { type: object, required: [items], properties: { items: { type: array, items: { type: object, required: [n], properties: { n: { type: integer } } } } } }
    securityHeaders: {}
  - name: small
    match: { path: "/small/*" }
    upstream: api
    maxBodyBytes: 200
    validate: { body: { type: object } }
  - name: grpc-validated
    match: { path: "/wicket.validate.Svc/*" }
    upstream: api
    validate: { body: { type: object } }
  - name: passing
    match: { path: "/pass/*" }
    upstream: api
    validate: { openapi: "${join(FIXTURES, 'petstore-3.1.yaml')}", pathPrefix: /pass, unknownOperation: pass }
`;

interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { in: string; pointer: string; message: string }[];
}

describe('validate and securityHeaders filters through a gateway', { timeout: 120_000 }, () => {
  let gw: Gateway;
  let up: Upstream;
  const got: Seen[] = [];
  let pids: number[] = [];

  before(async () => {
    up = await startRecordingUpstream(got, (rec, res) => {
      const out = rec.url.endsWith('/pets/13') ? BAD_PET : rec.url.endsWith('/pets/12') ? '{"pet":{"name":"Rex"},"id":12}' : JSON.stringify({ url: rec.url, bytes: rec.body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'x-frame-options': 'ALLOWALL', 'referrer-policy': 'unsafe-url' });
      res.end(out);
    });
    gw = await startGateway(config(up.port), { workers: 2, h2c: true, https: selfSigned() });
    pids = workerPids(gw);
  });

  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  /** What reached the upstream for `url` (after the request finished). */
  const seen = (url: string): Seen[] => got.filter((s) => s.url === url);

  const problem = (r: Reply, status: number): Problem => {
    assert.equal(r.status, status, show(r));
    assert.equal(r.headers['content-type'], 'application/problem+json', show(r));
    const p = JSON.parse(r.body.toString()) as Problem;
    assert.equal(p.status, status);
    return p;
  };
  const pointers = (r: Reply): string[] => problem(r, 400).errors!.map((e) => `${e.in} ${e.pointer}`).sort();

  for (const l of LISTENERS) {
    test(`a valid request reaches the upstream with its body byte-identical (${l})`, async () => {
      // Spacing and a non-ASCII character: the upstream must get these bytes, not a re-serialisation.
      const body = Buffer.from('{ "pet" : {"name":"Rex \u00e9", "tag": null} ,\n "note":   "x"  }');
      const url = `/v31/pets?l=${l}`;
      const r = await send(gw, l, { method: 'POST', path: url, headers: [['content-type', 'application/json'], ['x-tenant', 'acme']], body });
      assert.equal(r.status, 200, show(r));
      const s = seen(url);
      assert.equal(s.length, 1);
      assert.ok(s[0]!.body.equals(body), `upstream got ${JSON.stringify(s[0]!.body.toString())}`);
    });

    test(`each violation is reported with its location and pointer, and never reaches the upstream (${l})`, async () => {
      const before = got.length;
      const tenant: [string, string] = ['x-tenant', 'acme'];
      const json: [string, string] = ['content-type', 'application/json'];
      assert.deepEqual(pointers(await send(gw, l, { path: '/v31/pets' })), ['query limit'], 'missing required query parameter');
      assert.deepEqual(pointers(await send(gw, l, { path: '/v31/pets?limit=ten' })), ['query limit'], 'wrong type query parameter');
      assert.deepEqual(pointers(await send(gw, l, { path: '/v31/pets/abc' })), ['path petId'], 'wrong type path parameter');
      assert.deepEqual(pointers(await send(gw, l, { method: 'POST', path: '/v31/pets', headers: [['x-tenant', 'UPPER'], json], body: '{"pet":{"name":"a"}}' })), ['header X-Tenant'], 'bad header');
      assert.deepEqual(pointers(await send(gw, l, { method: 'POST', path: '/v31/pets', headers: [tenant] })), ['body '], 'missing body');
      const nested = problem(await send(gw, l, { method: 'POST', path: '/v31/pets', headers: [tenant, json], body: '{"pet":{"name":"","owner":{"email":"not-an-email"}}}' }), 400);
      assert.equal(nested.code, 'WICKET_ERR_VALIDATION');
      assert.deepEqual(nested.errors!.map((e) => e.pointer).sort(), ['/pet/name', '/pet/owner/email']);
      assert.ok(nested.errors!.every((e) => e.in === 'body' && e.message.length > 0));
      const nf = problem(await send(gw, l, { path: '/v31/owners' }), 404);
      assert.equal(nf.code, 'WICKET_ERR_OPERATION_NOT_FOUND');
      const na = await send(gw, l, { method: 'PATCH', path: '/v31/pets/1' });
      assert.equal(problem(na, 405).code, 'WICKET_ERR_OPERATION_METHOD_NOT_ALLOWED');
      assert.equal(na.headers.allow, 'GET, PUT, DELETE, HEAD');
      const ct = problem(await send(gw, l, { method: 'POST', path: '/v31/pets', headers: [tenant, ['content-type', 'text/xml']], body: '<pet/>' }), 415);
      assert.equal(ct.code, 'WICKET_ERR_UNSUPPORTED_MEDIA_TYPE');
      await sleep(50);
      assert.deepEqual(got.slice(before).map((s) => s.url), [], 'a refused request reached the upstream');
    });

    test(`OpenAPI 3.0: nullable and boolean exclusiveMinimum (${l})`, async () => {
      const post = (body: string) => send(gw, l, { method: 'POST', path: `/v30/pets?l=${l}`, headers: [['content-type', 'application/json'], ['x-tenant', 'acme']], body });
      assert.equal((await post('{"pet":{"name":"a","tag":null,"age":null}}')).status, 200);
      assert.deepEqual(pointers(await post('{"pet":{"name":"a","age":"old"}}')), ['body /pet/age']);
      assert.deepEqual(pointers(await send(gw, l, { path: '/v30/pets/0' })), ['path petId']);
      assert.equal((await send(gw, l, { path: '/v30/pets/1' })).status, 200);
    });

    test(`a plain body schema: a body larger than the request buffer goes up whole; over the route limit (no declared length): 413 (${l})`, async () => {
      const items = Array.from({ length: 20_000 }, (_, i) => ({ n: i }));
      const big = Buffer.from(JSON.stringify({ items }));
      assert.ok(big.length > 65536 && big.length < 1048576, String(big.length));
      const url = `/plain/big-${l}`;
      const r = await send(gw, l, { method: 'POST', path: url, headers: [['content-type', 'application/json']], body: big, timeoutMs: 15_000 });
      assert.equal(r.status, 200, show(r));
      assert.ok(seen(url)[0]!.body.equals(big), 'the upstream got the same bytes');
      const bad = Buffer.from(JSON.stringify({ items: [...items.slice(0, 100), { n: 'x' }] }));
      assert.deepEqual(pointers(await send(gw, l, { method: 'POST', path: `/plain/bad-${l}`, headers: [['content-type', 'application/json']], body: bad })), ['body /items/100/n']);
      // Over the route's limit with no declared length: the filter's read of the body stops at the limit.
      const over = Buffer.from(JSON.stringify({ pad: 'p'.repeat(300) }));
      const h2 = l === 'h2c' || l === 'tls-h2';
      const r413 = await send(gw, l, {
        method: 'POST',
        path: `/small/over-${l}`,
        headers: h2 ? [['content-type', 'application/json']] : [['content-type', 'application/json'], ['transfer-encoding', 'chunked']],
        body: h2 ? over : Buffer.concat([Buffer.from(`${over.length.toString(16)}\r\n`), over, Buffer.from('\r\n0\r\n\r\n')]),
        contentLength: false,
      });
      assert.equal(r413.status, 413, show(r413));
      assert.equal(JSON.parse(r413.body.toString()).error.code, 'WICKET_ERR_BODY_TOO_LARGE');
      assert.deepEqual(seen(`/small/over-${l}`), []);
      assert.equal((await send(gw, l, { method: 'POST', path: `/small/under-${l}`, headers: [['content-type', 'application/json']], body: '{"a":1}' })).status, 200);
    });

    test(`unknownOperation: pass lets unknown operations through, still checks known ones (${l})`, async () => {
      assert.equal((await send(gw, l, { path: `/pass/owners?l=${l}` })).status, 200);
      assert.deepEqual(pointers(await send(gw, l, { path: '/pass/pets' })), ['query limit']);
    });

    test(`securityHeaders on upstream answers and on the gateway's own errors; HSTS only over TLS (${l})`, async () => {
      const tls = l === 'tls-h2' || l === 'tls-h1';
      const ok = await send(gw, l, { path: '/v31/pets/12' });
      assert.equal(ok.status, 200, show(ok));
      assert.equal(ok.headers['x-frame-options'], 'SAMEORIGIN', 'the route override replaces the upstream value');
      assert.equal(ok.headers['referrer-policy'], 'no-referrer');
      assert.match(ok.headers['content-security-policy'] ?? '', /default-src 'none'/);
      assert.equal(ok.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(ok.headers['x-content-type-options'], 'nosniff');
      assert.equal(ok.headers['strict-transport-security'], tls ? 'max-age=31536000; includeSubDomains' : undefined);
      const err = await send(gw, l, { path: '/v31/pets' });
      assert.equal(err.status, 400);
      assert.equal(err.headers['x-content-type-options'], 'nosniff', 'the gateway\'s own answer carries them too');
      assert.equal(err.headers['strict-transport-security'], tls ? 'max-age=31536000; includeSubDomains' : undefined);
      const basic = await send(gw, l, { method: 'POST', path: `/plain/basic-${l}`, headers: [['content-type', 'application/json']], body: '{"items":[]}' });
      assert.equal(basic.status, 200, show(basic));
      assert.equal(basic.headers['x-frame-options'], 'SAMEORIGIN');
      assert.equal(basic.headers['referrer-policy'], 'strict-origin-when-cross-origin');
      assert.equal(basic.headers['permissions-policy'], undefined);
    });
  }

  test('response checks: a response that does not match is logged (pointers, never the body) and still goes out', async () => {
    const r = await send(gw, 'uws', { path: '/v31/pets/13' });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), BAD_PET, 'the client gets the upstream\'s answer as sent');
    const line = await gw.waitFor('response does not match the API description');
    const rec = JSON.parse(line) as { route: string; operation: string; status: number; errors: { pointer: string }[] };
    assert.equal(rec.route, 'pets31');
    assert.equal(rec.operation, 'GET /pets/{petId}');
    assert.deepEqual(rec.errors.map((e) => e.pointer).sort(), ['/id', '/pet/name']);
    assert.ok(!gw.output.some((l) => l.includes('secret-value-42') || l.includes('thirteen')), 'body content reached the log');
    const good = await send(gw, 'h2c', { path: '/v31/pets/12' });
    assert.equal(good.status, 200);
    await sleep(100);
    assert.equal(gw.output.filter((l) => l.includes('response does not match')).length, 1, 'a matching response is not logged');
  });

  test('a gRPC call on a validated route gets INVALID_ARGUMENT (h2c), not a JSON body', async () => {
    const id = (b: Buffer): Buffer => b;
    const def = { Call: { path: '/wicket.validate.Svc/Call', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } };
    const Client = grpc.makeGenericClientConstructor(def, 'Svc');
    const client = new Client(`127.0.0.1:${gw.h2cPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Call: (r: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void };
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Call(Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 5000 }, resolve));
      assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `${err?.code} ${err?.details}`);
    } finally {
      client.close();
    }
    assert.deepEqual(seen('/wicket.validate.Svc/Call'), []);
  });

  test('no worker died', async () => {
    await sleep(200);
    assert.deepEqual(gw.output.filter((l) => /worker died|worker exited/i.test(l)), []);
    assert.deepEqual(workerPids(gw), pids);
  });
});

describe('a route whose OpenAPI document cannot be used refuses the config at start', { timeout: 60_000 }, () => {
  for (const [what, file, message] of [
    ['a missing file', '/nonexistent/petstore.yaml', /routes\[0\]\.validate\.openapi.*cannot read \/nonexistent\/petstore\.yaml/],
    ['not OpenAPI 3.x', join(FIXTURES, '../../package.json'), /routes\[0\]\.validate\.openapi.*not an OpenAPI 3\.0 or 3\.1 document/],
  ] as const) {
    test(what, async () => {
      const yaml = `upstreams:\n  api: { targets: [ { url: "http://127.0.0.1:9" } ] }\nroutes:\n  - name: pets\n    match: { path: "/*" }\n    upstream: api\n    validate: { openapi: "${file}" }\n`;
      await assert.rejects(startGateway(yaml, { workers: 1 }), (e: Error) => {
        assert.match(e.message, message);
        return true;
      });
    });
  }
});

