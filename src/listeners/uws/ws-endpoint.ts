// What the uWS WebSocket behavior ('/*') dispatches to: a proxy tunnel or a
// pub/sub subscriber. uWS copies only the own fields of the userData object
// given to upgrade() (methods and private fields are lost), so the endpoint
// object goes in one field.
import type { WebSocket } from 'uWebSockets.js';

export interface WsRef {
  readonly conn: WsEndpoint;
}

export interface WsEndpoint {
  clientOpened(ws: WebSocket<WsRef>): void;
  /** `msg` is only valid during the call (uWS reuses it): copy what you keep. */
  clientMessage(msg: ArrayBuffer, binary: boolean): void;
  clientDrained(): void;
  clientPing(msg: ArrayBuffer): void;
  clientPong(msg: ArrayBuffer): void;
  /** The client sent a close frame, vanished, or we ended it (uWS calls this inside end()). */
  clientClosed(code: number, message: ArrayBuffer): void;
}
