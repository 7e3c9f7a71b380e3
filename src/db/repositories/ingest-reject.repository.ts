import { sql } from 'kysely';
import type { Db } from '../database.ts';

export type IngestSource = 'http' | 'file' | 'stream';

export interface NewIngestReject {
  source: IngestSource;
  tenantId: string | null;
  eventId: string | null;
  /** Where it came from: `FILE:LINE`, `http batch index N`, `stream MESSAGE-ID`. */
  location: string | null;
  /** The payload exactly as received (a line, an event's JSON, a whole body); bytes when it is not text. */
  raw: string | Uint8Array;
  reason: string;
}

export interface IngestReject extends Omit<NewIngestReject, 'raw'> {
  raw: string;
  id: string;
  receivedAt: Date;
  resolvedAt: Date | null;
}

/**
 * Keeps rejected payloads. An open reject with the same tenant, eventId, payload and reason is
 * not kept twice, so re-running a file or retrying an HTTP batch does not pile up copies.
 * One statement for the batch.
 */
export async function insertIngestRejects(
  db: Db,
  rejects: readonly NewIngestReject[],
  receivedAt: Date,
): Promise<void> {
  if (rejects.length === 0) return;
  // Bytes (a line that is not text) as base64 until rejects keep bytes losslessly.
  const raws = rejects.map((r) =>
    typeof r.raw === 'string' ? r.raw : Buffer.from(r.raw).toString('base64'),
  );
  await sql`
    INSERT INTO ingest_rejects (received_at, source, tenant_id, event_id, location, raw, reason)
    SELECT DISTINCT ON (coalesce(x.t, ''), coalesce(x.e, ''), x.raw, x.reason)
      ${receivedAt}::timestamptz, x.s, x.t, x.e, x.l, x.raw, x.reason
    FROM unnest(
      ${rejects.map((r) => r.source)}::text[], ${rejects.map((r) => r.tenantId)}::text[],
      ${rejects.map((r) => r.eventId)}::text[], ${rejects.map((r) => r.location)}::text[],
      ${raws}::text[], ${rejects.map((r) => r.reason)}::text[]
    ) WITH ORDINALITY AS x(s, t, e, l, raw, reason, ord)
    WHERE NOT EXISTS (
      SELECT 1 FROM ingest_rejects r
      WHERE r.resolved_at IS NULL AND coalesce(r.tenant_id, '') = coalesce(x.t, '')
        AND coalesce(r.event_id, '') = coalesce(x.e, '') AND r.raw = x.raw AND r.reason = x.reason
    )
    ORDER BY coalesce(x.t, ''), coalesce(x.e, ''), x.raw, x.reason, x.ord
  `.execute(db);
}

/** Kept rejects, oldest first; open ones only unless `includeResolved`. */
export async function listIngestRejects(
  db: Db,
  filter: { tenantId?: string; includeResolved?: boolean; limit?: number },
): Promise<IngestReject[]> {
  let q = db.selectFrom('ingest_rejects').selectAll();
  if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
  if (!filter.includeResolved) q = q.where('resolved_at', 'is', null);
  const rows = await q
    .orderBy('received_at')
    .orderBy('id')
    .limit(filter.limit ?? 10_000)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    receivedAt: r.received_at,
    resolvedAt: r.resolved_at,
    source: r.source as IngestSource,
    tenantId: r.tenant_id,
    eventId: r.event_id,
    location: r.location,
    raw: r.raw,
    reason: r.reason,
  }));
}
