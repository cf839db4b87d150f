// IPC between supervisor and workers (node:cluster, 'advanced' serialization:
// structured clone; these are rare control messages, never per request).
import type { ResolvedConfig } from '../config/load.js';

export type ToWorker =
  | { t: 'config'; version: number; config: ResolvedConfig }
  | { t: 'drain'; timeoutMs: number };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; version: number }
  | { t: 'applied'; version: number }
  | { t: 'refused'; version: number; error: string }
  | { t: 'fatal'; error: string };
