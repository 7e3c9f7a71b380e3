import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { type DatabaseConnection, openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';

export interface TestDatabase extends DatabaseConnection {
  url: string;
  name: string;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * A fresh database for one test file, cloned from the migrated template (fast: a file copy,
 * not a migration run). Dropped again by `close()`.
 */
export async function createTestDatabase(poolSize = 10): Promise<TestDatabase> {
  const adminUrl = inject('pgAdminUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${inject('templateDb')}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(adminUrl, name);
  const conn = await openPostgres(url, poolSize);
  return {
    ...conn,
    url,
    name,
    async close() {
      await conn.close();
      const a = new pg.Client({ connectionString: adminUrl });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/** A queue/stream prefix of its own for one test, so that tests never see each other's jobs. */
export function testPrefix(label = 'test'): string {
  return `${label}-${randomBytes(4).toString('hex')}`;
}

export function redisUrl(): string {
  return inject('redisUrl');
}

/**
 * A test database for `billing` child processes, and the environment that points them at it.
 * Its own pool stays small (two connections): the CLI under test brings its own.
 */
export async function createCliDatabase(): Promise<{ tdb: TestDatabase; env: Record<string, string> }> {
  const tdb = await createTestDatabase(2);
  return { tdb, env: { DATABASE_URL: tdb.url } };
}

/**
 * The database of the enclosing `describe`: opened by `open` (by default a fresh test database)
 * before its tests and closed after them. Read `.db` inside the tests, once `beforeAll` has run.
 */
export function suiteDatabase(open: () => Promise<DatabaseConnection> = createTestDatabase): {
  readonly db: Db;
} {
  let conn: DatabaseConnection | undefined;
  beforeAll(async () => {
    conn = await open();
  });
  afterAll(async () => conn?.close());
  return {
    get db(): Db {
      if (conn === undefined) throw new Error('suiteDatabase: .db is read before beforeAll opened it');
      return conn.db;
    },
  };
}
