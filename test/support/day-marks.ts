import { sql } from 'kysely';
import type { Db } from '../../src/db/database.ts';

/**
 * The marked tenant-days, one row per day with its revision (the highest of the marks covering
 * it), in (tenant, day) order: what the per-day `day_revisions` table used to hold. For small
 * test fixtures only: it expands every range.
 */
export async function markedDays(db: Db): Promise<{ tenant_id: string; day: string; revision: number }[]> {
  const { rows } = await sql<{ tenant_id: string; day: string; revision: string }>`
    SELECT m.tenant_id, (m.from_day + i)::date AS day, max(m.revision)::text AS revision
    FROM day_marks m CROSS JOIN LATERAL generate_series(0, m.to_day - m.from_day) AS i
    GROUP BY m.tenant_id, (m.from_day + i)::date
    ORDER BY m.tenant_id COLLATE "C", day
  `.execute(db);
  return rows.map((r) => ({ tenant_id: r.tenant_id, day: r.day, revision: Number(r.revision) }));
}

/** How many mark rows (ranges) exist. */
export async function markRowCount(db: Db): Promise<number> {
  const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM day_marks`.execute(db);
  return Number(rows[0]?.n);
}
