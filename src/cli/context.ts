import type { Config } from '../config.ts';
import type { DatabaseConnection } from '../db/connection.ts';
import { InputError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';
import { type Progress, startProgress } from './progress.ts';

/** Commands that run until stopped: they log at `info` on a terminal too (nobody watches a bar). */
const LONG_RUNNING = new Set(['serve', 'worker']);

/**
 * What a command needs, loaded and opened lazily: `billing --help` loads no module beyond
 * commander, and `license resolve` neither the database driver nor the logger.
 *
 * Logs go to stderr, results to stdout, always. The log level is `LOG_LEVEL` when set; else
 * `info` with `--verbose`, when stderr is not a terminal (worker, serve, CI, a pipe: JSON lines)
 * or for `serve` and `worker`; else (an interactive command at a terminal) `warn`: the person
 * at the terminal gets progress bars and a short summary instead of per-day log lines.
 */
export class CliContext {
  #loadConfig?: () => Config;
  #config?: Config;
  #logger?: Logger;
  #db?: Promise<DatabaseConnection>;
  #verbose = false;
  #command = '';

  /** Run before every action (main.ts): loads the configuration module, notes `--verbose`. */
  async prepare(options: { command: string; verbose: boolean }): Promise<void> {
    this.#command = options.command;
    this.#verbose = options.verbose;
    this.#loadConfig ??= (await import('../config.ts')).loadConfig;
  }

  get config(): Config {
    if (!this.#loadConfig) throw new Error('CliContext.prepare() was not awaited before the action');
    this.#config ??= this.#loadConfig();
    return this.#config;
  }

  /** The level the logger gets (see the class comment). */
  get logLevel(): string {
    if (process.env.LOG_LEVEL) return this.config.LOG_LEVEL;
    if (this.#verbose || !process.stderr.isTTY || LONG_RUNNING.has(this.#command)) return 'info';
    return 'warn';
  }

  get logger(): Logger {
    this.#logger ??= createLogger(this.logLevel, { pretty: process.stderr.isTTY === true });
    return this.#logger;
  }

  /**
   * Whether progress bars are drawn: stderr is a terminal and info logs are off (a bar and
   * log lines on the same terminal would garble each other).
   */
  get showProgress(): boolean {
    if (process.stderr.isTTY !== true) return false;
    const order = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
    return order.indexOf(this.logLevel) > order.indexOf('info');
  }

  /** A progress bar on stderr (see `showProgress`), or one that draws nothing. */
  progress(label: string, total: number, unit: string): Progress {
    return startProgress(this.showProgress, label, total, unit);
  }

  /** The database: `DATABASE_URL`, else the embedded one in `BILLING_DATA_DIR` (migrated on open). */
  database(options: { migrate?: boolean } = {}): Promise<DatabaseConnection> {
    this.#db ??= import('../db/connection.ts').then(({ openDatabase }) =>
      openDatabase({
        databaseUrl: this.config.DATABASE_URL,
        dataDir: this.config.BILLING_DATA_DIR,
        poolSize: this.config.DATABASE_POOL_SIZE,
        migrate: options.migrate,
      }),
    );
    return this.#db;
  }

  redisUrl(command: string): string {
    const url = this.config.REDIS_URL;
    if (!url) throw new InputError(`${command} needs Redis: set REDIS_URL (e.g. redis://127.0.0.1:6379)`);
    return url;
  }

  /** Results go to stdout; logs go to stderr. */
  print(text: string): void {
    process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  async close(): Promise<void> {
    if (this.#db) await (await this.#db).close();
  }
}
