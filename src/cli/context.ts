import { type Config, loadConfig } from '../config.ts';
import { type DatabaseConnection, openDatabase } from '../db/connection.ts';
import { InputError } from '../errors.ts';
import { createLogger, type Logger } from '../logger.ts';

/** What a command needs, opened lazily so that `--help` and `license resolve` touch no database. */
export class CliContext {
  #config?: Config;
  #logger?: Logger;
  #db?: Promise<DatabaseConnection>;

  get config(): Config {
    this.#config ??= loadConfig();
    return this.#config;
  }

  get logger(): Logger {
    this.#logger ??= createLogger(this.config.LOG_LEVEL);
    return this.#logger;
  }

  /** The database: `DATABASE_URL`, else the embedded one in `BILLING_DATA_DIR` (migrated on open). */
  database(options: { migrate?: boolean } = {}): Promise<DatabaseConnection> {
    this.#db ??= openDatabase({
      databaseUrl: this.config.DATABASE_URL,
      dataDir: this.config.BILLING_DATA_DIR,
      poolSize: this.config.DATABASE_POOL_SIZE,
      migrate: options.migrate,
    });
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
