import { type RawBuilder, sql } from 'kysely';
import { openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { startLocalPostgres } from '../support/services.ts';

/** The month and zone of the generated tenants. */
export const BENCH_MONTH = '2026-11';
export const BENCH_ZONE = 'Europe/Prague';

/**
 * The scale of a bench from the environment: BENCH_USERS (1,000,000), BENCH_DAYS (10) of
 * BENCH_MONTH in BENCH_ZONE, BENCH_ROUNDS.
 */
export function benchScale(defaultRounds: number) {
  return {
    month: BENCH_MONTH,
    zone: BENCH_ZONE,
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

/**
 * Fills run `runId` with the lines of generated day `d` from the table `bench_universe` (i,
 * user_id, item, billing, price): every monthly line with its share of the month (n = 30) and
 * the daily lines of the users active that day (`activePercent`, a fixed hash of user and day),
 * where `keep` holds; then sets the run's line count and total.
 */
export async function fillBenchRun(
  db: Db,
  runId: string,
  d: number,
  activePercent: number,
  keep: RawBuilder<unknown> = sql`true`,
): Promise<void> {
  await sql`
    INSERT INTO charge_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
    SELECT ${runId}, user_id, item, billing,
           CASE WHEN billing = 'daily' THEN price ELSE price * ${d} / 30 - price * ${d - 1} / 30 END, price, 1
    FROM bench_universe
    WHERE (billing = 'monthly' OR (i::bigint * 2654435761 + ${d} * 40503) % 100 < ${activePercent})
      AND ${keep}`.execute(db);
  await sql`UPDATE runs SET line_count = s.n, total = s.t
            FROM (SELECT count(*) AS n, sum(amount) AS t FROM charge_lines WHERE run_id = ${runId}) s
            WHERE id = ${runId}`.execute(db);
}
