import type { Db } from '../db/database.ts';
import { type IngestReject, listIngestRejects } from '../db/repositories/ingest-reject.repository.ts';

/**
 * Kept rejects for ops, oldest first. Open ones only by default: a reject is resolved when the
 * fixed event (same tenant and eventId) is later accepted.
 */
export function listRejects(
  db: Db,
  filter: { tenantId?: string; includeResolved?: boolean; limit?: number } = {},
): Promise<IngestReject[]> {
  return listIngestRejects(db, filter);
}

/** One line of text per reject: time, source, tenant, eventId, location, reason. */
export function formatReject(r: IngestReject): string {
  return [
    r.receivedAt.toISOString(),
    r.source,
    r.tenantId ?? '-',
    r.eventId ?? '-',
    r.location ?? '-',
    r.resolvedAt ? `resolved ${r.resolvedAt.toISOString()}` : 'open',
    r.reason,
  ].join('\t');
}
