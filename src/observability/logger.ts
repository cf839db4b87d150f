// pino JSON logs. Secrets never reach a log line: the access log records no
// headers, and redaction guards anything that might carry credentials.
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name: string): Logger {
  return pino({
    level,
    name,
    base: { pid: process.pid },
    redact: { paths: ['*.authorization', '*.token', '*.password', 'config.admin.token', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

export interface AccessLog {
  readonly log: Logger;
  /** Opens the file again (after a rotation moved it away); a no-op on stdout. */
  reopen(): void;
}

/**
 * Access log lines go through an async, buffered destination (flushed on
 * exit): stdout, or a file opened for appending (each flush is one write of
 * whole lines, so the workers' lines never interleave mid-line).
 */
export function createAccessLogger(file?: string): AccessLog {
  const dest = pino.destination({ dest: file ?? 1, sync: false, minLength: 4096, ...(file !== undefined ? { append: true, mkdir: true } : {}) });
  // A failed write or reopen (disk full, a rotated path that is now a directory) loses log lines, never the worker.
  let warned = 0;
  dest.on('error', (err: Error) => {
    if (Date.now() - warned < 10_000) return;
    warned = Date.now();
    process.stderr.write(`wicket: access log ${file ?? 'stdout'}: ${err.message}\n`);
  });
  // The worker's pid on every line: which worker served a request.
  const log = pino({ base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return { log, reopen: () => (file !== undefined ? dest.reopen() : undefined) };
}
