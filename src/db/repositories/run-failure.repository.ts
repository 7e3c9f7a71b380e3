import { sql } from 'kysely';
import type { Db } from '../database.ts';
import { inTenantDays, type TenantDays } from './tenant-days.ts';

/**
 * Records that an attempt to bill a tenant-day failed (its transaction rolled back). Written
 * outside that transaction, on `db`, after the rollback.
 */
export async function insertRunFailure(
  db: Db,
  f: { tenantId: string; day: string; trigger: string; error: string },
): Promise<void> {
  await db
    .insertInto('run_failures')
    .values({
      tenant_id: f.tenantId,
      day: f.day,
      failed_at: sql<Date>`clock_timestamp()`,
      trigger: f.trigger,
      error: f.error.slice(0, 2000),
    })
    .execute();
}

export interface LatestFailure {
  tenantId: string;
  day: string;
  failedAt: Date;
  error: string;
}

/** The latest failed attempt per tenant-day of days `from`..`to`. */
export async function latestRunFailures(db: Db, days: TenantDays): Promise<LatestFailure[]> {
  const { rows } = await sql<{ tenant_id: string; day: string; failed_at: Date; error: string }>`
    SELECT DISTINCT ON (tenant_id, day) tenant_id, day, failed_at, error
    FROM run_failures
    WHERE ${inTenantDays(days)}
    ORDER BY tenant_id, day, failed_at DESC
  `.execute(db);
  return rows.map((r) => ({ tenantId: r.tenant_id, day: r.day, failedAt: r.failed_at, error: r.error }));
}
