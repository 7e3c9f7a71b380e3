import { sql } from 'kysely';
import type { Db } from '../database.ts';
import { inTenantDays, type TenantDays } from './tenant-days.ts';

/** Events of one tenant-day judged in one batch: stored now, or found already stored. */
export interface TenantDayTally {
  tenantId: string;
  day: string;
  accepted: number;
  duplicates: number;
}

/**
 * Records a batch's counts: ONE statement, one row per tenant-day the batch touched (never one
 * per event). Runs inside the ingest transaction, so the counts commit or roll back with the
 * events they count.
 */
export async function insertIngestCounts(
  trx: Db,
  source: string,
  batchAt: Date,
  tallies: readonly TenantDayTally[],
): Promise<void> {
  if (tallies.length === 0) return;
  await sql`
    INSERT INTO ingest_counts (tenant_id, day, source, batch_at, accepted, duplicates)
    SELECT t, d, ${source}::text, ${batchAt}::timestamptz, a, u
    FROM unnest(${tallies.map((x) => x.tenantId)}::text[], ${tallies.map((x) => x.day)}::date[],
                ${tallies.map((x) => x.accepted)}::int[], ${tallies.map((x) => x.duplicates)}::int[])
         AS x(t, d, a, u)
  `.execute(trx);
}

export interface IngestCountRow {
  tenantId: string;
  day: string;
  source: string;
  accepted: number;
  duplicates: number;
}

/** Accepted events and duplicates per (tenant, day, source) for days `from`..`to` (both included). */
export async function sumIngestCounts(db: Db, days: TenantDays): Promise<IngestCountRow[]> {
  const { rows } = await sql<{
    tenant_id: string;
    day: string;
    source: string;
    accepted: string;
    duplicates: string;
  }>`
    SELECT tenant_id, day, source, sum(accepted)::text AS accepted, sum(duplicates)::text AS duplicates
    FROM ingest_counts
    WHERE ${inTenantDays(days)}
    GROUP BY tenant_id, day, source
  `.execute(db);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    day: r.day,
    source: r.source,
    accepted: Number(r.accepted),
    duplicates: Number(r.duplicates),
  }));
}
