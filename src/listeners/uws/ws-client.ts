// uWS's WebSocket and upgrade as the core's protocol-neutral WsClient and
// Upgrade. uWS copies only the own fields of the userData object given to
// upgrade() (methods and private fields are lost), so the endpoint goes in
// one field. Every call is corked: most come from outside uWS callbacks.
import type { HttpResponse, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import type { Upgrade, WsClient, WsEndpoint } from '../../pipeline/context.js';

export interface WsRef {
  readonly conn: WsEndpoint;
}

export class UwsClient implements WsClient {
  readonly #ws: WebSocket<WsRef>;
  #r = 1;
  // The message being sent, for the corked send (bound once: no closure per message).
  #data: Uint8Array | null = null;
  #binary = false;
  readonly #corkedSend = (): void => {
    this.#r = this.#ws.send(this.#data!, this.#binary, true);
  };

  constructor(ws: WebSocket<WsRef>) {
    this.#ws = ws;
  }

  send(data: Uint8Array, binary: boolean): number {
    this.#data = data;
    this.#binary = binary;
    this.#ws.cork(this.#corkedSend);
    this.#data = null;
    return this.#r;
  }

  end(code?: number, reason?: string | Uint8Array): void {
    const ws = this.#ws;
    ws.cork(() => (code === undefined ? ws.end() : ws.end(code, reason)));
  }

  ping(data: Uint8Array): void {
    const ws = this.#ws;
    ws.cork(() => ws.ping(data));
  }

  bufferedAmount(): number {
    return this.#ws.getBufferedAmount();
  }

  subscribe(topic: string): void {
    this.#ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    this.#ws.unsubscribe(topic);
  }
}

export class UwsUpgrade implements Upgrade {
  readonly protocols: string;
  readonly extensions: string;
  readonly #key: string;
  readonly #context: us_socket_context_t;
  readonly #res: HttpResponse;

  /** Copied in the upgrade callback: uWS's request object is only valid there. */
  constructor(res: HttpResponse, key: string, protocols: string, extensions: string, context: us_socket_context_t) {
    this.#res = res;
    this.#key = key;
    this.protocols = protocols;
    this.extensions = extensions;
    this.#context = context;
  }

  accept(endpoint: WsEndpoint, protocol: string, extensions: string, headers: readonly string[]): void {
    const res = this.#res;
    res.cork(() => {
      if (headers.length > 0) {
        res.writeStatus('101 Switching Protocols');
        for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      }
      res.upgrade<WsRef>({ conn: endpoint }, this.#key, protocol, extensions, this.#context);
    });
  }
}
