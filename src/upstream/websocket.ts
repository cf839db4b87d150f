// The upstream side of a proxied WebSocket: one `ws` client connection to the
// chosen target, wrapped in a small contract so the listener never imports a
// protocol library. Events arrive in the order they happen:
//   opened (101, with the subprotocol and extensions the upstream chose)
//   | refused (the upstream answered the upgrade with another status)
//   | failed (no connection, handshake timeout, bad handshake)
// then, after opened: message / ping / pong ... closed (once).
import type { IncomingMessage } from 'node:http';
import { WebSocket, type RawData } from 'ws';

export interface WsUpstreamEvents {
  /** `headers`: the upstream's 101 headers worth passing on (Set-Cookie...), flat. */
  opened(protocol: string, extensions: string, headers: string[]): void;
  /** A non-101 answer: status, headers (flat, hop-by-hop removed) and up to 64 KiB of body. */
  refused(status: number, headers: string[], body: Buffer): void;
  failed(code: 'WICKET_ERR_UPSTREAM_CONNECT' | 'WICKET_ERR_UPSTREAM_TIMEOUT', message: string): void;
  message(data: Buffer, binary: boolean): void;
  ping(data: Buffer): void;
  pong(data: Buffer): void;
  /** `code` 1006 when the connection went without a close frame. */
  closed(code: number, reason: Buffer): void;
}

export interface WsUpstreamOptions {
  /** ws:// URL of the target plus the request path and query. */
  url: string;
  protocols: string[];
  /** Request headers to send (no Host unless preserved, no Sec-WebSocket-*, no hop-by-hop). */
  headers: Record<string, string>;
  /** Host header to send instead of the target's (preserveHost). */
  host?: string;
  maxMessageBytes: number;
  compression: boolean;
  handshakeTimeoutMs: number;
}

const REFUSED_BODY_MAX = 64 * 1024;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** A close code that may be sent in a close frame (RFC 6455 §7.4). */
export function sendableCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

export class WsUpstream {
  readonly #ws: WebSocket;
  readonly #events: WsUpstreamEvents;
  #open = false;
  #done = false;
  /** Bytes handed to send() whose write has not completed. */
  #pending = 0;

  constructor(opts: WsUpstreamOptions, events: WsUpstreamEvents) {
    this.#events = events;
    const headers = opts.host === undefined ? opts.headers : { ...opts.headers, host: opts.host };
    const ws = new WebSocket(opts.url, opts.protocols, {
      headers,
      maxPayload: opts.maxMessageBytes,
      perMessageDeflate: opts.compression,
      handshakeTimeout: opts.handshakeTimeoutMs,
      followRedirects: false,
      // Events on their own ticks: a message handler may pause() the socket.
      allowSynchronousEvents: false,
    });
    this.#ws = ws;
    ws.binaryType = 'nodebuffer';
    let upgradeHeaders: string[] = [];
    ws.on('upgrade', (res: IncomingMessage) => {
      upgradeHeaders = passOn(res.rawHeaders);
    });
    ws.on('open', () => {
      this.#open = true;
      events.opened(ws.protocol, ws.extensions, upgradeHeaders);
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => this.#refused(res));
    ws.on('message', (data: RawData, binary: boolean) => events.message(data as Buffer, binary));
    ws.on('ping', (d: Buffer) => events.ping(d));
    ws.on('pong', (d: Buffer) => events.pong(d));
    ws.on('error', (err: Error & { code?: string }) => {
      if (this.#open || this.#done) return; // after open, 'close' follows and says how it ended
      this.#done = true;
      const timeout = /timed out|timeout/i.test(err.message);
      events.failed(timeout ? 'WICKET_ERR_UPSTREAM_TIMEOUT' : 'WICKET_ERR_UPSTREAM_CONNECT', err.message);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (!this.#open || this.#done) return;
      this.#done = true;
      events.closed(code, reason);
    });
  }

  get pendingBytes(): number {
    return this.#pending + this.#ws.bufferedAmount;
  }

  send(data: Buffer, binary: boolean): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    const n = data.length;
    this.#pending += n;
    this.#ws.send(data, { binary, compress: true }, () => {
      this.#pending -= n;
    });
  }

  ping(data: Buffer): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping(data);
  }

  pong(data: Buffer): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.pong(data);
  }

  /** Stops reading from the upstream (its TCP window fills; it slows down). */
  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  /** Closing handshake with the client's code, or an empty close frame when it had none. */
  close(code?: number, reason?: Buffer): void {
    this.#done = true;
    const ws = this.#ws;
    if (ws.readyState === WebSocket.CONNECTING) return ws.terminate();
    if (ws.readyState !== WebSocket.OPEN) return;
    if (code !== undefined && sendableCloseCode(code)) ws.close(code, reason !== undefined && reason.length <= 123 ? reason : undefined);
    else ws.close();
  }

  /** Drops the connection without a close frame (the client's went the same way). */
  terminate(): void {
    this.#done = true;
    this.#ws.terminate();
  }

  #refused(res: IncomingMessage): void {
    if (this.#done) return;
    this.#done = true;
    const headers = passOn(res.rawHeaders);
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      res.removeAllListeners();
      res.destroy();
      this.#ws.terminate();
      this.#events.refused(res.statusCode ?? 502, headers, Buffer.concat(chunks));
    };
    res.on('data', (c: Buffer) => {
      if (size >= REFUSED_BODY_MAX) return;
      chunks.push(c.subarray(0, REFUSED_BODY_MAX - size));
      size += c.length;
      if (size >= REFUSED_BODY_MAX) finish();
    });
    res.on('end', finish);
    res.on('error', finish);
  }
}

/** Upstream response headers the client may see: no hop-by-hop, framing, Date or handshake fields. */
function passOn(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (!HOP.has(k) && k !== 'content-length' && k !== 'date' && !k.startsWith('sec-websocket-')) out.push(k, raw[i + 1]!);
  }
  return out;
}
