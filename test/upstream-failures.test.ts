// Every way an HTTP/1.1 upstream can fail, as the client sees it, the same
// for both upstream clients (Wicket's and undici): before any response byte
// -> 502/504 with the error code; headers but no body byte yet -> 502 (no
// byte had reached the client); mid-body -> the client connection is cut so
// the client sees the truncation. Upstreams are raw TCP servers writing
// exact bytes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePorts, startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { rawExchange } from './helpers/raw.js';

/** What the raw upstream does for a request path. */
const MODES: Record<string, (s: net.Socket) => void> = {
  '/close-before': (s) => s.destroy(),
  '/reset-before': (s) => s.resetAndDestroy(),
  '/headers-then-close': (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n'),
  '/chunked-headers-then-close': (s) => s.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'),
  '/garbage': (s) => s.end('HELLO THERE\r\n\r\n'),
  '/bad-length': (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: abc\r\n\r\nhello'),
  '/cut-length': (s) => {
    s.write(`HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n${'a'.repeat(20000)}`);
    setTimeout(() => s.destroy(), 50);
  },
  '/cut-chunked': (s) => {
    s.write(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4e20\r\n${'b'.repeat(20000)}\r\n`);
    setTimeout(() => s.destroy(), 50);
  },
  '/silent': () => {
    // never answers: the headers timeout decides
  },
  '/ok': (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'),
};

function rawUpstream(): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const path = buf.split(' ')[1] ?? '/';
      const mode = MODES[path.replace(/^\/(wicket|undici)/, '')];
      buf = '';
      if (mode) mode(s);
      else s.destroy();
    });
    setTimeout(() => s.destroy(), 10_000).unref();
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

let upstream: net.Server;
let gw: Gateway;
let pids: number[];

before(async () => {
  upstream = await rawUpstream();
  const port = (upstream.address() as net.AddressInfo).port;
  const [refused] = await freePorts(1);
  const ups = (client: string) => `
  ${client}:
    client: ${client}
    headersTimeoutMs: 400
    targets: [{ url: "http://127.0.0.1:${port}" }]
  ${client}-down:
    client: ${client}
    targets: [{ url: "http://127.0.0.1:${refused}" }]`;
  gw = await startGateway(
    `upstreams:${ups('wicket')}${ups('undici')}
routes:
  - { name: wicket, match: { path: "/wicket/*" }, upstream: wicket }
  - { name: undici, match: { path: "/undici/*" }, upstream: undici }
  - { name: wicket-down, match: { path: "/wicket-down" }, upstream: wicket-down }
  - { name: undici-down, match: { path: "/undici-down" }, upstream: undici-down }
`,
    { workers: 1 },
  );
  pids = workerPids(gw);
});

after(async () => {
  await gw?.stop();
  upstream?.close();
});

interface Got {
  status: number;
  headers: Record<string, string>;
  body: string;
  bodyBytes: number;
  raw: string;
  closed: boolean;
}

/** One request on its own connection; everything received until the close (or 5 s). */
async function get(path: string): Promise<Got> {
  const { text, closed } = await rawExchange(gw.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, 5000);
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  const lines = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  const body = end < 0 ? '' : text.slice(end + 4);
  return { status: Number(lines[0]?.split(' ')[1] ?? 0), headers, body, bodyBytes: body.length, raw: text, closed };
}

function codeOf(body: string): string {
  return /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? '';
}

for (const client of ['wicket', 'undici'] as const) {
  describe(`upstream client: ${client}`, () => {
    const cases: [string, number, string][] = [
      [`/${client}-down`, 502, 'WICKET_ERR_UPSTREAM_CONNECT'],
      [`/${client}/close-before`, 502, 'WICKET_ERR_UPSTREAM_RESET'],
      [`/${client}/reset-before`, 502, 'WICKET_ERR_UPSTREAM_RESET'],
      [`/${client}/headers-then-close`, 502, 'WICKET_ERR_UPSTREAM_RESET'],
      [`/${client}/chunked-headers-then-close`, 502, 'WICKET_ERR_UPSTREAM_RESET'],
      [`/${client}/garbage`, 502, 'WICKET_ERR_UPSTREAM_PROTOCOL'],
      [`/${client}/bad-length`, 502, 'WICKET_ERR_UPSTREAM_PROTOCOL'],
      [`/${client}/silent`, 504, 'WICKET_ERR_UPSTREAM_TIMEOUT'],
    ];
    for (const [path, status, code] of cases) {
      test(`${path.replace(`/${client}`, '') || path}: ${status} ${code}`, async () => {
        const r = await get(path);
        assert.equal(r.status, status, `${path}: ${r.raw.slice(0, 300)}`);
        assert.equal(codeOf(r.body), code, r.body);
      });
    }

    test('a Content-Length body cut mid-way: 200 with the promised length, then the connection closes short of it', async () => {
      const r = await get(`/${client}/cut-length`);
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-length'], '100000');
      assert.ok(r.closed, 'the client connection is closed');
      assert.ok(r.bodyBytes < 100000, `got ${r.bodyBytes} of 100000: the client can tell`);
    });

    test('a chunked body cut mid-way: the connection closes without the last chunk', async () => {
      const r = await get(`/${client}/cut-chunked`);
      assert.equal(r.status, 200);
      assert.ok(r.closed, 'the client connection is closed');
      assert.ok(!r.raw.endsWith('0\r\n\r\n'), 'no terminating chunk');
    });

    test('and the next request on a fresh connection is served', async () => {
      const r = await get(`/${client}/ok`);
      assert.equal(r.status, 200);
      assert.equal(r.body, 'ok');
    });
  });
}

test('no worker died', () => {
  assert.deepEqual(workerPids(gw), pids);
});
