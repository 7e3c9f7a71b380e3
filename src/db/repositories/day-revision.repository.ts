import { sql } from 'kysely';
import type { Db } from '../database.ts';

export interface TenantDay {
  tenantId: string;
  day: string;
}

/**
 * Marks tenant-days whose input data (activity or settings) changed: each mark raises the day's
 * revision. A run records the revision it read before reading the data, so a day is due for
 * re-billing exactly when its revision is above the one its latest run recorded — a counter,
 * not a timestamp, so that a commit racing a run can never be missed. One statement for a batch.
 */
export async function bumpDayRevisions(db: Db, days: readonly TenantDay[]): Promise<void> {
  if (days.length === 0) return;
  const unique = new Map(days.map((d) => [`${d.tenantId}\u0000${d.day}`, d]));
  const tenantIds = [...unique.values()].map((d) => d.tenantId);
  const dayValues = [...unique.values()].map((d) => d.day);
  // Sorted so that concurrent batches lock the rows in the same order (no deadlocks).
  await sql`
    INSERT INTO day_revisions (tenant_id, day)
    SELECT t, d FROM unnest(${tenantIds}::text[], ${dayValues}::date[]) AS x(t, d)
    ORDER BY t COLLATE "C", d
    ON CONFLICT (tenant_id, day)
    DO UPDATE SET revision = day_revisions.revision + 1, changed_at = now()
  `.execute(db);
}
