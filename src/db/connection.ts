import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { lockDataDir } from './data-dir-lock.ts';
import type { Database, Db } from './database.ts';
import pg from './pg-driver.ts';

const DATE_OID = 1082;

/** `date` stays a 'YYYY-MM-DD' string: a calendar day has no time zone, so it must never become a Date. */
const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === DATE_OID
      ? (value: string) => value
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface DatabaseConnection {
  db: Kysely<Database>;
  kind: 'postgres' | 'embedded';
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** Apply pending migrations on open. The embedded database is always migrated on open. */
  migrate?: boolean;
}

export async function openPostgres(url: string, poolSize = 10): Promise<DatabaseConnection> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: typeParsers });
  // A client that loses its server (a restart, a network cut) emits 'error': on the pool when
  // idle, on the client itself when checked out. Unheard, either would crash the process; the
  // query in flight fails on its own and the pool drops the broken client on release.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', () => {});
    // Closing, pg sends Terminate, ends its side of the socket, then waits until the server has
    // closed the connection, i.e. until the backend has exited: 10-30 ms, the end of every CLI
    // command. libpq (psql) does not wait for it; neither does this: once Terminate and the end
    // of our side are out ('finish', which only closing causes), the socket is closed.
    // (pg's socket is not public API: without it, closing simply waits as pg does.)
    const socket = (
      client as unknown as { connection?: { stream?: NodeJS.WritableStream & { destroy(): void } } }
    ).connection?.stream;
    socket?.once('finish', () => socket.destroy());
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: 'postgres', close: () => db.destroy() };
}

/**
 * The embedded PostgreSQL (PGlite) in `dataDir` (or `memory://`). It runs one query at a time,
 * so callers must use the transaction's handle inside a transaction, never `db`. A data
 * directory is used by one process at a time: its lock file (`data-dir-lock.ts`) is taken first.
 */
export async function openEmbedded(dataDir: string): Promise<DatabaseConnection> {
  let release = () => {};
  if (!dataDir.startsWith('memory://')) {
    mkdirSync(dataDir, { recursive: true });
    release = lockDataDir(dataDir);
  }
  try {
    // Loaded only when used: a process on real PostgreSQL never pays for the embedded one.
    const { PGlite } = await import('@electric-sql/pglite');
    const { createPgConfig } = await import('@electric-sql/pglite/node-postgres');
    const pglite = await PGlite.create(dataDir);
    const pool = new pg.Pool({ ...createPgConfig(pglite), types: typeParsers });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      kind: 'embedded',
      close: async () => {
        try {
          await db.destroy();
          await pglite.close();
        } finally {
          release();
        }
      },
    };
  } catch (error) {
    release();
    throw error;
  }
}

export async function openDatabase(options: OpenOptions): Promise<DatabaseConnection> {
  const conn = options.databaseUrl
    ? await openPostgres(options.databaseUrl, options.poolSize)
    : await openEmbedded(options.dataDir);
  if (conn.kind === 'embedded' || options.migrate) {
    try {
      // Loaded only when used: a command on a migrated server (export) never loads the migrations.
      const { migrateToLatest } = await import('./migrator.ts');
      await migrateToLatest(conn.db);
    } catch (error) {
      await conn.close();
      throw error;
    }
  }
  return conn;
}

/** Resolves when the database answers a trivial query (the health check); rejects otherwise. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
