// What a listener needs from its worker: the gateway core to hand requests
// to, and the worker's state a listener must know.
import type { Gateway } from '../pipeline/gateway.js';

export interface ListenerHost {
  readonly gateway: Gateway;
  /** The worker drains: responses close their connections. */
  draining(): boolean;
  /** A request begins (the worker's in-flight count; the core reports its end). */
  begin(): void;
}
