import { sql } from 'kysely';
import type { Db } from '../database.ts';
import type { IngestReject, IngestSource } from './ingest-reject.repository.ts';

export interface RejectFilter {
  tenantId?: string | undefined;
  source?: IngestSource | undefined;
  /** Reason contains this text (case-insensitive). */
  reason?: string | undefined;
  /** Received on this UTC day (`YYYY-MM-DD`). */
  day?: string | undefined;
  /** Open ones only (default) or every kept reject. */
  includeResolved?: boolean;
  /** Keyset: rejects with an id below this one (newest first). */
  beforeId?: string | undefined;
  limit: number;
}

/**
 * One page of kept rejects, newest first (id descending), filtered; `limit + 1` rows so the
 * caller knows whether there is a next page. The payload is cut at 4,000 characters (a reject
 * may hold a whole request body); `rawLength` says how long it really is.
 */
export async function pageRejects(
  db: Db,
  f: RejectFilter,
): Promise<Array<IngestReject & { rawLength: number }>> {
  const like = f.reason ? `%${f.reason.replace(/[\\%_]/g, '\\$&')}%` : null;
  const { rows } = await sql<{
    id: string;
    received_at: Date;
    resolved_at: Date | null;
    source: string;
    tenant_id: string | null;
    event_id: string | null;
    location: string | null;
    raw: string;
    raw_length: number;
    reason: string;
  }>`
    SELECT id::text, received_at, resolved_at, source, tenant_id, event_id, location,
           substring(raw for 4000) AS raw, length(raw) AS raw_length, reason
    FROM ingest_rejects
    WHERE true
      ${f.tenantId ? sql`AND tenant_id = ${f.tenantId}` : sql``}
      ${f.source ? sql`AND source = ${f.source}` : sql``}
      ${like ? sql`AND reason ILIKE ${like}` : sql``}
      ${f.day ? sql`AND received_at >= ${f.day}::date::timestamp AT TIME ZONE 'UTC' AND received_at < (${f.day}::date + 1)::timestamp AT TIME ZONE 'UTC'` : sql``}
      ${f.includeResolved ? sql`` : sql`AND resolved_at IS NULL`}
      ${f.beforeId ? sql`AND id < ${f.beforeId}::bigint` : sql``}
    ORDER BY id DESC
    LIMIT ${f.limit + 1}
  `.execute(db);
  return rows.map((r) => ({
    id: r.id,
    receivedAt: r.received_at,
    resolvedAt: r.resolved_at,
    source: r.source as IngestSource,
    tenantId: r.tenant_id,
    eventId: r.event_id,
    location: r.location,
    raw: r.raw,
    rawLength: r.raw_length,
    reason: r.reason,
  }));
}
