import { type DatabaseConnection, openEmbedded } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { createTestDatabase } from './test-database.ts';

/**
 * The two databases the product runs on: real PostgreSQL (a fresh clone of the migrated
 * template) and the embedded PGlite (in memory, migrated on open). Tests that must hold on both
 * run once per backend with `describe.each(BACKENDS)`.
 */
export const BACKENDS = [
  { name: 'postgres', open: (): Promise<DatabaseConnection> => createTestDatabase() },
  {
    name: 'embedded',
    open: async (): Promise<DatabaseConnection> => {
      const conn = await openEmbedded('memory://');
      await migrateToLatest(conn.db);
      return conn;
    },
  },
] as const;
