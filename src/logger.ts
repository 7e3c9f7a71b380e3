import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** Human-readable lines (pino-pretty) instead of JSON; the CLI asks for it on a terminal. */
  pretty?: boolean;
}

// pino and pino-pretty are CommonJS: required on first use, so that a command that never logs
// (`billing --help`, `billing license resolve`) does not pay for loading them.
const require = createRequire(import.meta.url);

/**
 * A pino logger that writes to stderr (fd 2), synchronously: results go to stdout, so logs never
 * mix with them. JSON lines by default (worker, serve, CI, anything reading stderr); with
 * `pretty`, one coloured line per entry for a person at a terminal. Both are written in this
 * thread (no transport worker), so nothing is lost when the process exits right after a log.
 */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const { pino } = require('pino') as typeof import('pino');
  if (options.pretty) {
    const { build } = require('pino-pretty') as typeof import('pino-pretty');
    return pino({ level }, build({ destination: 2, sync: true, colorize: true }));
  }
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}
