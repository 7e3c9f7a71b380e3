import type { Db } from '../db/database.ts';
import {
  deleteIngestRejects,
  type IngestReject,
  insertIngestRejects,
  listIngestRejects,
  type NewIngestReject,
  type RejectFilter,
} from '../db/repositories/ingest-reject.repository.ts';

/**
 * Keeps a payload that never became events (an HTTP body that is not JSON or not of the shape)
 * as one reject of the caller's tenant.
 */
export function keepRejectedPayload(db: Db, reject: NewIngestReject, receivedAt: Date): Promise<void> {
  return insertIngestRejects(db, [reject], receivedAt);
}

/** Rows per page when listing and per statement when purging. */
const PAGE_SIZE = 1_000;

/**
 * Kept rejects for ops, in the order they were kept, one page at a time (keyset paging: memory
 * stays bounded however many there are). Open ones only by default: a reject is resolved when
 * the fixed event (same tenant and eventId) is later accepted.
 */
export async function* streamRejects(
  db: Db,
  filter: RejectFilter = {},
  pageSize = PAGE_SIZE,
): AsyncGenerator<IngestReject> {
  let afterId: string | undefined;
  for (;;) {
    const page = await listIngestRejects(db, { ...filter, afterId, limit: pageSize });
    yield* page;
    if (page.length < pageSize) return;
    afterId = (page.at(-1) as IngestReject).id;
  }
}

/**
 * Retention (docs/operations.md): deletes the rejects received before `before`, resolved ones
 * only unless `includeOpen`, in statements of `PAGE_SIZE` rows; returns how many were deleted.
 */
export async function purgeRejects(
  db: Db,
  filter: { before: Date; includeOpen?: boolean; tenantId?: string },
): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await deleteIngestRejects(db, {
      before: filter.before,
      includeOpen: filter.includeOpen === true,
      tenantId: filter.tenantId,
      limit: PAGE_SIZE,
    });
    total += n;
    if (n < PAGE_SIZE) return total;
  }
}

/** One line of text per reject: time, source, tenant, eventId, location, state, reason. */
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

/** The JSON form of a reject (`billing ingest rejects --json`). */
export function rejectJson(r: IngestReject): Record<string, unknown> {
  return {
    id: r.id,
    receivedAt: r.receivedAt.toISOString(),
    resolvedAt: r.resolvedAt?.toISOString() ?? null,
    source: r.source,
    tenantId: r.tenantId,
    eventId: r.eventId,
    location: r.location,
    raw: r.raw,
    rawEncoding: r.rawEncoding,
    rawBytes: r.rawBytes,
    rawSha256: r.rawSha256,
    rawTruncated: r.rawTruncated,
    reason: r.reason,
  };
}
