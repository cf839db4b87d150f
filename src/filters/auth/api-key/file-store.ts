// The file key store: a JSON file the gateway owns, rewritten whole on each
// change (temp file, fsync, rename, fsync of the folder), mode 0600. One
// gateway per file. Last-used times are written at most every few seconds.
import { readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { State, type Change, type Intent, type Refusal } from './records.js';
import { parseStoreFile, type StoreFileContent } from './stored.js';
import { StoreUnavailableError, type KeyStore, type StoreEvents } from './store.js';

/** Last-used times reach the file at most this often. */
const USED_FLUSH_MS = 10_000;

let tmpSeq = 0;

/** Replaces `path` with `data` so that a crash leaves the old file or the new one, never a mix. */
export async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${++tmpSeq}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename is in the folder: sync it so the new name survives a power cut.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** The records in `path` (none when it does not exist yet); throws with what is wrong. */
export function readStoreFile(path: string): StoreFileContent {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, consumers: [], keys: [] };
    throw new Error(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const parsed = parseStoreFile(text);
  if (typeof parsed === 'string') throw new Error(`${path}: ${parsed}`);
  return parsed;
}

export class FileStore implements KeyStore {
  readonly state = new State();
  readonly ready = true;
  readonly path: string;
  readonly #events: StoreEvents;
  readonly #log: Logger;
  /** Writes one after another, in the order the changes were applied. */
  #writing: Promise<void> = Promise.resolve();
  #usedDirty = false;
  #flush: NodeJS.Timeout | null = null;
  #closed = false;

  /** Reads the file now (the supervisor starts with its records); throws when it is unreadable. */
  constructor(path: string, events: StoreEvents, log: Logger) {
    this.path = path;
    this.#events = events;
    this.#log = log;
    const f = readStoreFile(path);
    this.state.replace(f.consumers, f.keys);
    for (const [id, at] of Object.entries(f.used ?? {})) if (this.state.keys.has(id)) this.state.used.set(id, at);
  }

  #content(): string {
    const used: Record<string, number> = {};
    for (const [id, at] of this.state.used) if (this.state.keys.has(id)) used[id] = at;
    const f: StoreFileContent = { version: 1, consumers: [...this.state.consumers.values()] as StoreFileContent['consumers'], keys: [...this.state.keys.values()], used };
    return `${JSON.stringify(f, null, 1)}\n`;
  }

  /** Queues a write of the state as it is when the write starts. */
  #write(): Promise<void> {
    const next = this.#writing.then(() => writeAtomic(this.path, this.#content()));
    this.#writing = next.catch(() => undefined);
    return next;
  }

  async commit(i: Intent): Promise<Change | Refusal> {
    const c = this.state.prepare(i);
    if (typeof c === 'string') return c;
    const undo = this.state.apply(c);
    try {
      await this.#write();
    } catch (err) {
      undo();
      this.#log.error({ file: this.path, err: (err as Error).message }, 'API-key store file not written; change refused');
      throw new StoreUnavailableError('the key store file could not be written');
    }
    this.#events.changed(c);
    return c;
  }

  used(id: string, at: number): void {
    if (!this.state.keys.has(id) || (this.state.used.get(id) ?? 0) >= at) return;
    this.state.used.set(id, at);
    this.#usedDirty = true;
    if (this.#flush !== null || this.#closed) return;
    this.#flush = setTimeout(() => {
      this.#flush = null;
      if (!this.#usedDirty) return;
      this.#usedDirty = false;
      this.#write().catch((err: Error) => this.#log.warn({ file: this.path, err: err.message }, 'API-key last-used times not written'));
    }, USED_FLUSH_MS);
    this.#flush.unref();
  }

  lastUsed(ids: readonly string[]): Promise<(number | null)[]> {
    return Promise.resolve(ids.map((id) => this.state.used.get(id) ?? null));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#flush !== null) clearTimeout(this.#flush);
    this.#flush = null;
    // The last-used times gathered since the last write go with the store.
    if (this.#usedDirty) await this.#write().catch(() => undefined);
    await this.#writing;
  }
}
