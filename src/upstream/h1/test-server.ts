// Real loopback servers for the H1Pool tests: a raw net.Server whose
// connection callback writes exact bytes, and a node:http server for the
// cases where exact bytes don't matter. Both count accepted connections and
// the peak of concurrently open ones, and close every socket on close().
// Test support only: not imported by the gateway.
import http from 'node:http';
import net from 'node:net';

export interface TestServer {
  readonly port: number;
  readonly origin: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open right now. */
  readonly open: number;
  /** Peak of `open`. */
  readonly maxOpen: number;
  /** Every accepted socket, in order (closed ones included). */
  readonly sockets: net.Socket[];
  /** Resolves once `n` connections have been accepted. */
  waitConnections(n: number): Promise<void>;
  close(): Promise<void>;
}

class Tracker {
  connections = 0;
  open = 0;
  maxOpen = 0;
  readonly sockets: net.Socket[] = [];
  readonly #waiters: { n: number; resolve: () => void }[] = [];

  add(s: net.Socket): void {
    this.connections++;
    this.open++;
    if (this.open > this.maxOpen) this.maxOpen = this.open;
    this.sockets.push(s);
    s.once('close', () => this.open--);
    for (const w of this.#waiters.splice(0)) {
      if (this.connections >= w.n) w.resolve();
      else this.#waiters.push(w);
    }
  }

  wait(n: number): Promise<void> {
    if (this.connections >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

async function listen(server: net.Server, t: Tracker, destroyAll: () => void): Promise<TestServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get connections() {
      return t.connections;
    },
    get open() {
      return t.open;
    },
    get maxOpen() {
      return t.maxOpen;
    },
    sockets: t.sockets,
    waitConnections: (n) => t.wait(n),
    close: () =>
      new Promise<void>((resolve) => {
        destroyAll();
        server.close(() => resolve());
      }),
  };
}

/**
 * A raw TCP server: `onConnection(socket, index)` runs for each accepted
 * connection (index from 0) and writes whatever bytes it likes.
 */
export function rawServer(onConnection: (s: net.Socket, index: number) => void): Promise<TestServer> {
  const t = new Tracker();
  const server = net.createServer((s) => {
    const index = t.connections;
    t.add(s);
    s.on('error', () => {});
    onConnection(s, index);
  });
  return listen(server, t, () => {
    for (const s of t.sockets) s.destroy();
  });
}

/** A node:http server (keep-alive on by default). */
export function httpServer(handler: http.RequestListener): Promise<TestServer> {
  const t = new Tracker();
  const server = http.createServer(handler);
  server.on('connection', (s: net.Socket) => {
    t.add(s);
    s.on('error', () => {});
  });
  return listen(server, t, () => server.closeAllConnections());
}

export interface RawRequest {
  /** Request line and headers, up to and including the blank line. */
  readonly head: string;
  readonly method: string;
  readonly path: string;
  /** Header names lower-cased, in order. */
  readonly headers: [string, string][];
  /** The body as it was on the wire (chunk framing included when chunked). */
  readonly wireBody: Buffer;
  /** The body with chunk framing removed. */
  readonly body: Buffer;
  /** The exact bytes of this request. */
  readonly raw: Buffer;
  /** Index of this request on its connection (from 0). */
  readonly index: number;
}

/**
 * Splits what arrives on `s` into requests (Content-Length or chunked bodies,
 * no trailers) and calls `onRequest` for each complete one. `received()`
 * returns every byte read from the socket so far.
 */
export function readRequests(s: net.Socket, onRequest: (r: RawRequest) => void): { received(): Buffer } {
  let all = Buffer.alloc(0);
  let pending = Buffer.alloc(0);
  let index = 0;
  s.on('data', (d: Buffer) => {
    all = Buffer.concat([all, d]);
    pending = Buffer.concat([pending, d]);
    for (;;) {
      const r = parseOne(pending, index);
      if (r === null) return;
      pending = pending.subarray(r.raw.length);
      index++;
      onRequest(r);
    }
  });
  return { received: () => all };
}

function parseOne(buf: Buffer, index: number): RawRequest | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const head = buf.subarray(0, end + 4).toString('latin1');
  const lines = head.slice(0, -4).split('\r\n');
  const [method = '', path = ''] = lines[0]!.split(' ');
  const headers: [string, string][] = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers.push([l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()]);
  }
  const get = (n: string) => headers.find(([k]) => k === n)?.[1];
  const start = end + 4;
  const te = get('transfer-encoding');
  if (te !== undefined && te.toLowerCase() === 'chunked') {
    let pos = start;
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return null;
      const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size at ${pos}`);
      if (size === 0) {
        if (buf.length < eol + 4) return null;
        const stop = eol + 4;
        return mk(buf, head, method, path, headers, start, stop, Buffer.concat(parts), index);
      }
      if (buf.length < eol + 2 + size + 2) return null;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
  }
  const cl = get('content-length');
  const n = cl === undefined ? 0 : Number(cl);
  if (buf.length < start + n) return null;
  return mk(buf, head, method, path, headers, start, start + n, buf.subarray(start, start + n), index);
}

function mk(
  buf: Buffer, head: string, method: string, path: string, headers: [string, string][],
  start: number, stop: number, body: Buffer, index: number,
): RawRequest {
  return {
    head, method, path, headers,
    wireBody: Buffer.from(buf.subarray(start, stop)),
    body: Buffer.from(body),
    raw: Buffer.from(buf.subarray(0, stop)),
    index,
  };
}

/** A minimal complete response with a Content-Length body. */
export function response(body: string, extraHeaders = '', status = '200 OK'): string {
  return `HTTP/1.1 ${status}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`;
}

/**
 * A raw server answering every request on every connection with
 * `respond(req, socket, connIndex)`'s return value (written as-is, unless
 * null: then the callback wrote, or chose not to).
 */
export function respondingServer(
  respond: (r: RawRequest, s: net.Socket, connIndex: number) => string | Buffer | null,
): Promise<TestServer & { requests: (RawRequest & { conn: number })[] }> {
  const requests: (RawRequest & { conn: number })[] = [];
  return rawServer((s, conn) => {
    readRequests(s, (r) => {
      requests.push({ ...r, conn });
      const out = respond(r, s, conn);
      if (out !== null && !s.destroyed) s.write(out);
    });
  }).then((srv) => Object.assign(srv, { requests }));
}
