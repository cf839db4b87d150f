// Real upstream servers on loopback for tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Upstream {
  readonly port: number;
  readonly url: string;
  readonly server: http.Server;
  /** Requests seen, in order. */
  readonly seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

export async function startUpstream(handler?: http.RequestListener): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (handler) return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    server,
    seen,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A request as the recording upstream saw it. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** The whole body arrived. */
  complete: boolean;
}

/** An upstream that records every request (into `got`) and answers {url, bytes}, or what `answer` writes. */
export function startRecordingUpstream(got: Seen[], answer?: (rec: Seen, res: http.ServerResponse) => void): Promise<Upstream> {
  return startUpstream((req, res) => {
    const rec: Seen = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.alloc(0), complete: false };
    got.push(rec);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      rec.complete = true;
      rec.body = Buffer.concat(chunks);
      if (answer !== undefined) return answer(rec, res);
      const out = JSON.stringify({ url: req.url, bytes: rec.body.length });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
}
