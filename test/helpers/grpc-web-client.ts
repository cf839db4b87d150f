// Drive the official `grpc-web` npm client (GrpcWebClientBase) from Node.js
// without protoc: requests/responses are raw protobuf bytes (Uint8Array), and a
// small XMLHttpRequest shim over node:http is installed on globalThis.
//
// Why a hand-written shim: grpc-web (goog.net.XhrIo) needs
//   * text mode: `responseText` growing on every body chunk with a
//     `readystatechange` (readyState 3) per chunk -> incremental streaming;
//   * binary mode: `responseType = "arraybuffer"` and `response` being an
//     ArrayBuffer at readyState 4 and null/empty before (the binary path re-feeds
//     `xhr.response` to a stateful frame parser on every readystatechange, so a
//     growing partial buffer would be parsed twice).
// xhr2 only fills responseText at the end (no streaming); xmlhttprequest streams
// text but has no responseType/response (binary breaks); xmlhttprequest-ssl
// buffers to the end as well.
import * as http from 'node:http';
import * as https from 'node:https';
import { GrpcWebClientBase, MethodDescriptor, MethodType } from 'grpc-web';

// ---------------------------------------------------------------------------
// XMLHttpRequest shim (only what goog.net.XhrIo uses, spec-shaped)
// ---------------------------------------------------------------------------

type XhrEvent = { type: string; target: NodeXMLHttpRequest };
type XhrListener = (ev: XhrEvent) => void;

const noKeepAlive = { http: new http.Agent({ keepAlive: false }), https: new https.Agent({ keepAlive: false }) };

export class NodeXMLHttpRequest {
  static readonly UNSENT = 0;
  static readonly OPENED = 1;
  static readonly HEADERS_RECEIVED = 2;
  static readonly LOADING = 3;
  static readonly DONE = 4;

  readyState = 0;
  status = 0;
  statusText = '';
  responseType: '' | 'text' | 'arraybuffer' = '';
  responseText = '';
  responseURL = '';
  withCredentials = false;
  timeout = 0;
  onreadystatechange: XhrListener | null = null;
  onload: XhrListener | null = null;
  onerror: XhrListener | null = null;
  onabort: XhrListener | null = null;
  ontimeout: XhrListener | null = null;
  onloadend: XhrListener | null = null;
  onprogress: XhrListener | null = null;

  private method = 'GET';
  private url = '';
  private reqHeaders = new Map<string, [string, string]>(); // lower -> [name, value]
  private resHeaders = new Map<string, string>(); // lower -> value
  private chunks: Buffer[] = [];
  private decoder = new TextDecoder('utf-8');
  private req: http.ClientRequest | null = null;
  private sent = false;
  private failed = false;
  private listeners = new Map<string, Set<XhrListener>>();

  get response(): string | ArrayBuffer | null {
    if (this.responseType === '' || this.responseType === 'text') return this.responseText;
    if (this.readyState !== 4 || this.failed) return null;
    const b = Buffer.concat(this.chunks);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  open(method: string, url: string, async = true): void {
    if (!async) throw new Error('NodeXMLHttpRequest: synchronous requests are not supported');
    this.abortSilently();
    this.method = method.toUpperCase();
    this.url = url;
    this.reqHeaders.clear();
    this.resHeaders.clear();
    this.chunks = [];
    this.decoder = new TextDecoder('utf-8');
    this.responseText = '';
    this.status = 0;
    this.statusText = '';
    this.sent = false;
    this.failed = false;
    this.setState(1);
  }

  setRequestHeader(name: string, value: string): void {
    if (this.readyState !== 1 || this.sent) throw new Error('InvalidStateError: setRequestHeader');
    const lower = name.toLowerCase();
    const prev = this.reqHeaders.get(lower);
    this.reqHeaders.set(lower, prev ? [prev[0], `${prev[1]}, ${value}`] : [name, String(value)]);
  }

  getResponseHeader(name: string): string | null {
    if (this.readyState < 2 || this.failed) return null;
    return this.resHeaders.get(name.toLowerCase()) ?? null;
  }

  getAllResponseHeaders(): string {
    if (this.readyState < 2 || this.failed) return '';
    let out = '';
    for (const [k, v] of this.resHeaders) out += `${k}: ${v}\r\n`;
    return out;
  }

  overrideMimeType(_mime: string): void {}

  addEventListener(type: string, fn: XhrListener): void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
  }

  removeEventListener(type: string, fn: XhrListener): void {
    this.listeners.get(type)?.delete(fn);
  }

  send(body?: string | Uint8Array | ArrayBuffer | null): void {
    if (this.readyState !== 1 || this.sent) throw new Error('InvalidStateError: send');
    this.sent = true;
    const u = new URL(this.url);
    const mod = u.protocol === 'https:' ? https : http;
    const payload =
      body == null
        ? undefined
        : typeof body === 'string'
          ? Buffer.from(body, 'utf8')
          : body instanceof ArrayBuffer
            ? Buffer.from(body)
            : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const headers: Record<string, string> = {};
    for (const [name, value] of this.reqHeaders.values()) headers[name] = value;
    if (payload) headers['Content-Length'] = String(payload.length);
    const req = mod.request(u, {
      method: this.method,
      headers,
      agent: u.protocol === 'https:' ? noKeepAlive.https : noKeepAlive.http,
    });
    this.req = req;
    if (this.timeout > 0) {
      req.setTimeout(this.timeout, () => {
        if (this.req !== req) return;
        this.fail('timeout');
      });
    }
    req.on('error', () => {
      if (this.req === req) this.fail('error');
    });
    req.on('response', (res) => {
      if (this.req !== req) return res.resume();
      this.status = res.statusCode ?? 0;
      this.statusText = res.statusMessage ?? '';
      this.responseURL = this.url;
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        const k = res.rawHeaders[i]!.toLowerCase();
        const v = res.rawHeaders[i + 1]!;
        const prev = this.resHeaders.get(k);
        this.resHeaders.set(k, prev === undefined ? v : `${prev}, ${v}`);
      }
      this.setState(2);
      res.on('data', (chunk: Buffer) => {
        if (this.req !== req) return;
        this.chunks.push(chunk);
        if (this.responseType === '' || this.responseType === 'text') {
          this.responseText += this.decoder.decode(chunk, { stream: true });
        }
        // Per the XHR spec, readystatechange fires for every body chunk while
        // LOADING; goog.net.XhrIo relies on that for streaming.
        this.setState(3);
        this.emit('progress');
      });
      res.on('end', () => {
        if (this.req !== req) return;
        if (this.responseType === '' || this.responseType === 'text') this.responseText += this.decoder.decode();
        this.req = null;
        this.setState(4);
        this.emit('load');
        this.emit('loadend');
      });
      res.on('aborted', () => {
        if (this.req === req) this.fail('error');
      });
    });
    req.end(payload);
  }

  abort(): void {
    if (!this.req) return;
    const active = this.readyState >= 1 && this.readyState < 4;
    this.abortSilently();
    this.failed = true;
    this.status = 0;
    if (active) {
      this.setState(4);
      this.emit('abort');
      this.emit('loadend');
    }
    this.readyState = 0;
  }

  private abortSilently(): void {
    const req = this.req;
    this.req = null;
    req?.destroy();
  }

  private fail(kind: 'error' | 'timeout'): void {
    this.abortSilently();
    this.failed = true;
    this.status = 0;
    this.statusText = '';
    this.responseText = '';
    this.setState(4);
    this.emit(kind);
    this.emit('loadend');
  }

  private setState(state: number): void {
    this.readyState = state;
    this.emit('readystatechange');
  }

  /** Called when an event listener throws. Browsers report such exceptions and
   *  carry on; we do the same instead of letting them escape into node:http's
   *  event emitters (where they become uncaught exceptions). grpc-web can throw
   *  here, e.g. URIError from decodeURIComponent on a grpc-message with a raw '%'. */
  static onListenerError: (err: unknown, type: string) => void = (err, type) => {
    console.error(`[NodeXMLHttpRequest] exception in '${type}' listener:`, err);
  };

  private emit(type: string): void {
    const ev: XhrEvent = { type, target: this };
    const prop = (this as unknown as Record<string, unknown>)[`on${type}`];
    const fns = [...(typeof prop === 'function' ? [prop as XhrListener] : []), ...(this.listeners.get(type) ?? [])];
    for (const fn of fns) {
      try {
        fn.call(this, ev);
      } catch (err) {
        NodeXMLHttpRequest.onListenerError(err, type);
      }
    }
  }
}

/** Install the shim as globalThis.XMLHttpRequest (grpc-web looks it up at call time). */
export function installXhrShim(force = false): void {
  const g = globalThis as unknown as { XMLHttpRequest?: unknown };
  if (force || typeof g.XMLHttpRequest === 'undefined') g.XMLHttpRequest = NodeXMLHttpRequest;
}

// ---------------------------------------------------------------------------
// grpc-web wrapper working on raw bytes
// ---------------------------------------------------------------------------

export type GrpcWebMode = 'binary' | 'text';
export type Metadata = Record<string, string>;

export interface GrpcWebStatus {
  /** grpc status code (0 = OK). */
  code: number;
  /** grpc-message, already percent-decoded by grpc-web. */
  details: string;
  /** Trailers from the trailers frame (minus grpc-status/grpc-message), or for
   *  header/HTTP-level errors whatever grpc-web attached (all response headers). */
  metadata: Metadata;
  /** When grpc-web reported it:
   *  'body' = while reading the body (a 0x80 trailers frame, or an error such as
   *           "Unknown Content-type received." / a frame parse error);
   *  'completion' = at request completion (grpc-status response header, i.e. trailers-only;
   *           non-200 HTTP status; transport error; "Incomplete response" for unary);
   *  'none' = the response ended without any status (grpc-web treats that as OK). */
  source: 'body' | 'completion' | 'none';
}

export interface UnaryResult {
  /** Response message bytes, or null if the call failed. */
  response: Uint8Array | null;
  status: GrpcWebStatus;
  /** Response headers as grpc-web reports them (lower-case keys; content-type,
   *  grpc-status and grpc-message are removed by grpc-web). */
  headers: Metadata;
}

export interface StreamResult {
  status: GrpcWebStatus;
  headers: Metadata;
  messages: number;
}

export interface CallOptions {
  metadata?: Metadata;
  /** Hard bound for the whole call (the call is cancelled and the promise rejects). */
  timeoutMs?: number;
}

export interface GrpcWebTestClient {
  readonly mode: GrpcWebMode;
  readonly client: GrpcWebClientBase;
  unary(path: string, request: Uint8Array, opts?: CallOptions | Metadata): Promise<UnaryResult>;
  serverStream(
    path: string,
    request: Uint8Array,
    onMessage: (message: Uint8Array, index: number) => void,
    opts?: CallOptions | Metadata,
  ): Promise<StreamResult>;
}

type Bytes = Uint8Array;
// grpc-web only keeps name + (de)serializers; the request/response "types" are unused.
const BytesCtor = Uint8Array as unknown as new (...args: unknown[]) => Bytes;
const identity = (b: Bytes): Bytes => b;

function descriptor(path: string, type: string): MethodDescriptor<Bytes, Bytes> {
  return new MethodDescriptor<Bytes, Bytes>(path, type, BytesCtor, BytesCtor, identity, identity);
}

function normalize(opts: CallOptions | Metadata | undefined): Required<CallOptions> {
  const o = (opts ?? {}) as CallOptions & Metadata;
  const isOpts = typeof o.metadata === 'object' || typeof o.timeoutMs === 'number';
  return isOpts
    ? { metadata: o.metadata ?? {}, timeoutMs: o.timeoutMs ?? 10_000 }
    : { metadata: o as Metadata, timeoutMs: 10_000 };
}

interface ErrLike {
  code?: number;
  message?: string;
  metadata?: Metadata;
}

/**
 * Event order in grpc-web (GrpcWebClientReadableStream):
 *  - body chunks: 'data' per message; a trailers frame -> ('error' if code != 0) then 'status';
 *  - XHR complete (always, once): 'metadata' (response headers), then EITHER
 *    'error'+'status' (HTTP status != 200, transport error, or grpc-status header != 0)
 *    OR 'end'. All of the complete-phase events are emitted synchronously, so we
 *    settle one macrotask after 'metadata'.
 */
class Collector {
  headers: Metadata | null = null;
  status: GrpcWebStatus | null = null;
  messages = 0;
  private done = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settle: (c: Collector) => void,
    private readonly fail: (e: Error) => void,
    private readonly cancel: () => void,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      if (this.done) return;
      this.done = true;
      this.cancel();
      this.fail(new Error(`grpc-web call did not complete within ${timeoutMs} ms`));
    }, timeoutMs);
  }

  abort(e: unknown): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.cancel();
    this.fail(e instanceof Error ? e : new Error(String(e)));
  }

  onStatus(code: number, details: string, metadata: Metadata | undefined): void {
    if (this.status && this.status.code !== 0) return; // keep the first error
    this.status = {
      code,
      details,
      metadata: { ...(metadata ?? {}) },
      source: this.headers === null ? 'body' : 'completion',
    };
  }

  onMetadata(md: Metadata): void {
    this.headers = { ...md };
    setTimeout(() => {
      if (this.done) return;
      this.done = true;
      clearTimeout(this.timer);
      this.status ??= { code: 0, details: '', metadata: {}, source: 'none' };
      this.settle(this);
    }, 0);
  }
}

export function grpcWebClient(
  baseUrl: string,
  mode: GrpcWebMode,
  options: { maxReceiveMessageSize?: number } = {},
): GrpcWebTestClient {
  installXhrShim();
  const base = baseUrl.replace(/\/+$/, '');
  const client = new GrpcWebClientBase({ format: mode, ...options });

  return {
    mode,
    client,

    unary(path, request, opts) {
      const { metadata, timeoutMs } = normalize(opts);
      return new Promise<UnaryResult>((resolve, reject) => {
        let response: Uint8Array | null = null;
        let cancel = (): void => {};
        const col = new Collector(
          (c) => resolve({ response: c.status!.code === 0 ? response : null, status: c.status!, headers: c.headers ?? {} }),
          reject,
          () => cancel(),
          timeoutMs,
        );
        // rpcCall = callback-style unary call; unlike unaryCall() it exposes
        // 'status' and 'metadata' events (unaryCall resolves with the message only).
        const call = client.rpcCall(base + path, request, metadata, descriptor(path, MethodType.UNARY), (err, resp) => {
          if (err) {
            const e = err as unknown as ErrLike;
            col.onStatus(e.code ?? 2, e.message ?? '', e.metadata);
          } else {
            response = resp;
          }
        });
        cancel = () => call.cancel();
        call.on('status', (s) => col.onStatus(s.code, s.details, s.metadata));
        call.on('metadata', (md) => col.onMetadata(md));
      });
    },

    serverStream(path, request, onMessage, opts) {
      const { metadata, timeoutMs } = normalize(opts);
      return new Promise<StreamResult>((resolve, reject) => {
        const stream = client.serverStreaming(
          base + path,
          request,
          metadata,
          descriptor(path, MethodType.SERVER_STREAMING),
        );
        const col = new Collector(
          (c) => resolve({ status: c.status!, headers: c.headers ?? {}, messages: c.messages }),
          reject,
          () => stream.cancel(),
          timeoutMs,
        );
        stream.on('data', (msg) => {
          try {
            onMessage(msg, col.messages++);
          } catch (e) {
            col.abort(e); // cancels the call and rejects
          }
        });
        stream.on('error', (e) => col.onStatus(e.code, e.message, e.metadata));
        stream.on('status', (s) => col.onStatus(s.code, s.details, s.metadata));
        stream.on('metadata', (md) => col.onMetadata(md));
      });
    },
  };
}

// ---------------------------------------------------------------------------
// Tiny protobuf helpers: message { string field1 = 1; }
// ---------------------------------------------------------------------------

export function encodeStringField1(s: string): Uint8Array {
  const utf8 = Buffer.from(s, 'utf8');
  const len: number[] = [];
  let n = utf8.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Uint8Array.from([0x0a, ...len, ...utf8]);
}

export function decodeStringField1(b: Uint8Array): string {
  if (b.length === 0) return '';
  if (b[0] !== 0x0a) throw new Error(`unexpected tag 0x${b[0]!.toString(16)}`);
  let i = 1;
  let len = 0;
  let shift = 0;
  for (;;) {
    const x = b[i++]!;
    len |= (x & 0x7f) << shift;
    if (!(x & 0x80)) break;
    shift += 7;
  }
  return Buffer.from(b.subarray(i, i + len)).toString('utf8');
}
