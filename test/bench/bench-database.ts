import { sql } from 'kysely';
import { openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { startLocalPostgres } from '../support/services.ts';

/** The month and zone of the generated tenants. */
export const BENCH_MONTH = '2026-11';
export const BENCH_ZONE = 'Europe/Prague';

/** The scale of a bench from the environment: BENCH_USERS (1,000,000), BENCH_DAYS (10), BENCH_ROUNDS. */
export function benchScale(defaultRounds: number): { users: number; days: number; rounds: number } {
  return {
    users: Number(process.env.BENCH_USERS ?? 1_000_000),
    days: Number(process.env.BENCH_DAYS ?? 10),
    rounds: Number(process.env.BENCH_ROUNDS ?? defaultRounds),
  };
}

/**
 * Runs `work` on a migrated database of a fresh local PostgreSQL 15 with the machine's
 * durability settings (`url` for the processes a bench starts), stopped and removed afterwards.
 */
export async function withBenchDatabase(
  options: { poolSize: number; sharedBuffers?: string },
  work: (db: Db, url: string) => Promise<void>,
): Promise<void> {
  const server = await startLocalPostgres({
    durable: true,
    ...(options.sharedBuffers ? { sharedBuffers: options.sharedBuffers } : {}),
  });
  const conn = await openPostgres(server.url, options.poolSize);
  try {
    await migrateToLatest(conn.db);
    await work(conn.db, server.url);
  } finally {
    await conn.close();
    await server.stop();
  }
}

/** The bench tenant: in BENCH_ZONE, billed in EUR. */
export async function insertBenchTenant(db: Db, id: string, name: string): Promise<void> {
  await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES (${id}, ${name}, ${BENCH_ZONE}, 'EUR')`.execute(
    db,
  );
}
