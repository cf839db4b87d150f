// One request, the same way, on each of the gateway's four listeners:
//   uws     listen.http (uWebSockets.js, HTTP/1.1), raw socket: the exact bytes
//   h2c     listen.h2c (node:http2, prior knowledge), node:http2 client
//   tls-h2  listen.https with ALPN h2, node:http2 client
//   tls-h1  listen.https with ALPN http/1.1, raw tls socket: the exact bytes
// Every call is bounded in time; a request that gets no answer (reset, closed,
// timed out) resolves with status 0 and `error` set, so assertions can print it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Gateway } from './gateway.js';
import { sendRaw, type RawResult, type SendRawOptions } from './raw-http.js';

export type ListenerName = 'uws' | 'h2c' | 'tls-h2' | 'tls-h1';
export const LISTENERS: readonly ListenerName[] = ['uws', 'h2c', 'tls-h2', 'tls-h1'];
export const H1_LISTENERS: readonly ListenerName[] = ['uws', 'tls-h1'];
export const H2_LISTENERS: readonly ListenerName[] = ['h2c', 'tls-h2'];

/** A self-signed certificate for 127.0.0.1 (openssl from Debian), as files. */
export function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

export interface Reply {
  /** 0: no response (see `error`). */
  status: number;
  /** Lower-case names; repeated fields joined with ", " (set-cookie kept apart by "\n"). */
  headers: Record<string, string>;
  body: Buffer;
  /** HTTP/1.1: the server closed the connection (within the time limit). */
  closed: boolean;
  /** Why there is no response (reset, timeout, client refused to send). */
  error?: string;
  /** The client library refused to send the request (node:http2 validates names and values). */
  refusedByClient?: boolean;
}

export interface Req {
  method?: string;
  /** Sent as is: the raw request target (HTTP/1.1) or :path (HTTP/2). */
  path: string;
  /** In order; names as given (HTTP/2 lower-cases them). */
  headers?: [string, string | Buffer][];
  body?: Buffer | string;
  /** Host / :authority (default 127.0.0.1:port). */
  authority?: string;
  /** Adds content-length for a body (default true). */
  contentLength?: boolean;
  timeoutMs?: number;
  /** HTTP/1.1: how long to wait for stray bytes after the response (default 150 ms). */
  settleMs?: number;
}

export function listenerPort(gw: Gateway, l: ListenerName): number {
  switch (l) {
    case 'uws':
      return gw.port;
    case 'h2c':
      return gw.h2cPort;
    case 'tls-h2':
    case 'tls-h1':
      return gw.httpsPort;
  }
}

/** A raw TLS connection to the gateway's https port offering only HTTP/1.1. */
export function tlsH1Connect(port: number): () => net.Socket {
  return () => tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false, servername: undefined });
}

/** Raw bytes on an HTTP/1.1 listener (uws: TCP; tls-h1: TLS with ALPN http/1.1). */
export function rawOn(gw: Gateway, l: 'uws' | 'tls-h1', bytes: string | Buffer | (string | Buffer)[], opts: SendRawOptions = {}): Promise<RawResult> {
  const port = listenerPort(gw, l);
  return sendRaw(port, bytes, l === 'tls-h1' ? { ...opts, connect: tlsH1Connect(port) } : opts);
}

/** The request as HTTP/1.1 bytes. */
export function h1Bytes(r: Req, authority: string): Buffer {
  const body = r.body === undefined ? undefined : Buffer.from(r.body);
  const parts: Buffer[] = [Buffer.from(`${r.method ?? 'GET'} ${r.path} HTTP/1.1\r\nHost: ${authority}\r\n`, 'latin1')];
  for (const [n, v] of r.headers ?? []) parts.push(Buffer.from(`${n}: `, 'latin1'), Buffer.from(v as string, typeof v === 'string' ? 'latin1' : undefined), Buffer.from('\r\n'));
  if (body !== undefined && r.contentLength !== false) parts.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  parts.push(Buffer.from('\r\n'));
  if (body !== undefined) parts.push(body);
  return Buffer.concat(parts);
}

function headerMap(list: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [n, v] of list) out[n] = Object.hasOwn(out, n) ? `${out[n]}${n === 'set-cookie' ? '\n' : ', '}${v}` : v;
  return out;
}

/** One request on listener `l`. HTTP/1.1 on a fresh connection; HTTP/2 on a fresh session (closed afterwards). */
export async function send(gw: Gateway, l: ListenerName, r: Req): Promise<Reply> {
  const port = listenerPort(gw, l);
  const authority = r.authority ?? `127.0.0.1:${port}`;
  if (l === 'uws' || l === 'tls-h1') {
    const res = await rawOn(gw, l, h1Bytes(r, authority), { timeoutMs: r.timeoutMs ?? 5000, heads: [(r.method ?? 'GET') === 'HEAD'], settleMs: r.settleMs });
    const first = res.responses[0];
    if (first === undefined) {
      return { status: 0, headers: {}, body: Buffer.alloc(0), closed: res.closed, error: res.closed ? `connection closed with no response (got ${JSON.stringify(res.text.slice(0, 200))})` : `no response in time (got ${JSON.stringify(res.text.slice(0, 200))})` };
    }
    return { status: first.status, headers: headerMap(first.headers), body: first.body, closed: res.closed };
  }
  return h2send(port, l === 'tls-h2', r, authority);
}

function h2connect(port: number, secure: boolean): http2.ClientHttp2Session {
  return secure
    ? http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, ALPNProtocols: ['h2'] } as http2.SecureClientSessionOptions)
    : http2.connect(`http://127.0.0.1:${port}`);
}

function h2send(port: number, secure: boolean, r: Req, authority: string): Promise<Reply> {
  return new Promise((resolve) => {
    const session = h2connect(port, secure);
    let done = false;
    const finish = (rep: Reply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.close();
      setTimeout(() => session.destroy(), 1000).unref();
      resolve(rep);
    };
    const fail = (error: string, refusedByClient = false): void => finish({ status: 0, headers: {}, body: Buffer.alloc(0), closed: false, error, refusedByClient });
    const timer = setTimeout(() => fail('no HTTP/2 response in time'), r.timeoutMs ?? 5000);
    session.on('error', (e: Error) => fail(`session error: ${e.message}`));
    session.on('goaway', (code: number) => {
      if (!done) setTimeout(() => fail(`GOAWAY ${code}`), 500);
    });
    const body = r.body === undefined ? undefined : Buffer.from(r.body);
    const headers: http2.OutgoingHttpHeaders = { ':method': r.method ?? 'GET', ':path': r.path, ':authority': authority, ':scheme': secure ? 'https' : 'http' };
    for (const [n, v] of r.headers ?? []) {
      const k = n.toLowerCase();
      const val = typeof v === 'string' ? v : v.toString('latin1');
      const prev = Object.hasOwn(headers, k) ? headers[k] : undefined; // a header may be named "constructor"
      headers[k] = prev === undefined ? val : Array.isArray(prev) ? [...prev, val] : [String(prev), val];
    }
    if (body !== undefined && r.contentLength !== false) headers['content-length'] = String(body.length);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === undefined });
    } catch (e) {
      fail(`node:http2 refused to send it: ${(e as Error).message}`, true);
      return;
    }
    let status = 0;
    let h: Record<string, string> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (rh) => {
      status = Number(rh[':status']);
      const list: [string, string][] = [];
      for (const [k, v] of Object.entries(rh)) {
        if (k.startsWith(':') || v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) list.push([k, x]);
        else list.push([k, String(v)]);
      }
      h = headerMap(list);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => finish({ status, headers: h, body: Buffer.concat(chunks), closed: false }));
    stream.on('close', () => {
      if (!done) {
        if (status !== 0 && stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) finish({ status, headers: h, body: Buffer.concat(chunks), closed: false });
        else fail(`stream closed without a complete response (status ${status}, rstCode ${stream.rstCode})`);
      }
    });
    stream.on('error', (e: Error) => fail(`stream error: ${e.message}`));
    if (body !== undefined) stream.end(body);
  });
}

/** The CA option for clients that verify the gateway's self-signed certificate. */
export const caOf = (certFile: string): Buffer => readFileSync(certFile);

/** The gateway's JSON error code in `r`'s body, or '' when the body is not one. */
export function errorCode(r: Reply): string {
  try {
    return (JSON.parse(r.body.toString()) as { error?: { code?: string } }).error?.code ?? '';
  } catch {
    return '';
  }
}

/** A one-line description of a reply for assertion messages. */
export function show(r: Reply): string {
  if (r.status === 0) return `no response: ${r.error}`;
  return `${r.status} ${JSON.stringify(r.headers)} ${JSON.stringify(r.body.toString('latin1').slice(0, 300))}`;
}
