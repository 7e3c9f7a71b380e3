import { sql } from 'kysely';
import type { Db } from '../database.ts';
import {
  type IngestReject,
  type IngestSource,
  type RejectRow,
  rejectOf,
} from './ingest-reject.repository.ts';

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
 * caller knows whether there is a next page. The stored payload is cut at 4,000 characters for
 * the page (a reject may hold a whole request body); `rawBytes` says how long the original was.
 */
export async function pageRejects(db: Db, f: RejectFilter): Promise<IngestReject[]> {
  const like = f.reason ? `%${f.reason.replace(/[\\%_]/g, '\\$&')}%` : null;
  const { rows } = await sql<RejectRow>`
    SELECT id::text, received_at, resolved_at, source, tenant_id, event_id, location,
           substring(raw for 4000) AS raw, raw_encoding, raw_bytes::text, raw_sha256, raw_truncated, reason
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
  return rows.map(rejectOf);
}
