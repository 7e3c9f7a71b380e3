import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * pino JSON on stderr; pretty-printed when stderr is a terminal. Results go to stdout, so logs
 * never mix with them.
 */
export function createLogger(level: string): Logger {
  if (process.stderr.isTTY) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } },
    });
  }
  return pino({ level }, pino.destination({ dest: 2, sync: true }));
}
