import { sql } from 'kysely';
import { loadPriceBook } from '../../../src/billing/price-book.service.ts';
import type { Db } from '../../../src/db/database.ts';
import { CLI_PRICE_BOOK } from '../../support/fixtures.ts';

export const DEFAULT_BOOK = { ...CLI_PRICE_BOOK, validFrom: '2020-01-01' };

/**
 * `users` users of `tenantId`, each with one settings version effective at `from`, generated in
 * SQL (a fault story needs volume, not variety): a mix of licenses and both billing modes.
 * Their licenses are those `resolveLicense` gives the stored settings.
 */
export async function seedUsers(db: Db, tenantId: string, users: number, from: string): Promise<void> {
  await sql`
    INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, settings, license, billing, record_calls, reasons)
    SELECT ${tenantId}, 'u-' || i, ${from}::timestamptz, true,
      CASE WHEN i % 5 = 0
        THEN '{"role":"team_leader","permissions":[],"trackStatistics":false,"skills":[],"recordCalls":false,"billing":"daily"}'::jsonb
        ELSE '{"role":"user","permissions":["communication"],"trackStatistics":false,"skills":["a"],"recordCalls":true,"billing":"monthly"}'::jsonb END,
      CASE WHEN i % 5 = 0 THEN 'professional' ELSE 'standard' END,
      CASE WHEN i % 5 = 0 THEN 'daily' ELSE 'monthly' END,
      i % 5 <> 0,
      CASE WHEN i % 5 = 0 THEN '["R3: permission statistics (from role team_leader)","R3: permission team (from role team_leader)"]'::jsonb ELSE '[]'::jsonb END
    FROM generate_series(1, ${users}::int) AS i
  `.execute(db);
}

export async function seedDefaultPrices(db: Db): Promise<void> {
  await loadPriceBook(db, DEFAULT_BOOK, 'fault-suite');
}

/** Current runs per tenant-day, and how many runs of any kind each tenant-day has. */
export async function runCounts(
  db: Db,
): Promise<{ tenantId: string; day: string; current: number; all: number }[]> {
  const { rows } = await sql<{ tenant_id: string; day: string; current: string; all: string }>`
    SELECT tenant_id, day::text AS day, count(*) FILTER (WHERE is_current) AS current, count(*) AS all
    FROM runs GROUP BY tenant_id, day ORDER BY tenant_id, day
  `.execute(db);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    day: r.day,
    current: Number(r.current),
    all: Number(r.all),
  }));
}

export async function waitUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
