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

/** Access log lines go through an async, buffered destination (flushed on exit). */
export function createAccessLogger(): Logger {
  // The worker's pid on every line: which worker served a request.
  return pino({ base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 1, sync: false, minLength: 4096 }));
}
