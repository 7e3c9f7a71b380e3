import { isTransientDatabaseError } from '../db/database-errors.ts';
import type { BatchResult, EventIngestor, IngestContext, IngestItem } from './event-ingest.service.ts';

/** NUL or a lone surrogate: text the database cannot store as it is. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for.
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const storable = (s: string | undefined) => (s !== undefined && !UNSTORABLE.test(s) ? s : undefined);

/**
 * The item as a reject saying why the database refused it. Everything that could have been the
 * cause is made safe: the payload goes as bytes unless it is plain text, and the tenant and
 * eventId read from it are kept only when they are storable.
 */
function refusedItem(item: IngestItem, error: unknown): IngestItem {
  const event = item.parsed.ok ? item.parsed.event : item.hint;
  const raw =
    typeof item.raw === 'string' && storable(item.raw) === undefined ? Buffer.from(item.raw) : item.raw;
  const message = String((error as Error)?.message ?? error).slice(0, 500);
  const hint: IngestItem['hint'] = {};
  const tenantId = storable(event?.tenantId);
  const eventId = storable(event?.eventId);
  if (tenantId !== undefined) hint.tenantId = tenantId;
  if (eventId !== undefined) hint.eventId = eventId;
  return {
    raw,
    location: item.location,
    parsed: {
      ok: false,
      reason: `could not be stored: ${message.replace(new RegExp(UNSTORABLE, 'g'), '?')}`,
    },
    hint,
  };
}

function merge(a: BatchResult, b: BatchResult, offset: number): BatchResult {
  return {
    accepted: a.accepted + b.accepted,
    duplicates: a.duplicates + b.duplicates,
    rejected: [...a.rejected, ...b.rejected.map((r) => ({ ...r, index: r.index + offset }))],
  };
}

/**
 * `ingestor.ingest`, except that an item the database refuses (a value it cannot store) costs
 * only itself: when a batch fails for a reason that is not transient, it is split in halves and
 * each half ingested on its own, down to single items; a single item that still fails is kept
 * as a reject ("could not be stored: …"). A few failing items among n cost O(log n) extra
 * transactions. A transient error (database away, deadlock) is thrown at once, and so is any
 * error while storing that last reject (the database is then down too): nothing of the batch
 * is lost, the caller retries it whole. Same invariant as `ingest`: every item counted once.
 */
export async function ingestIsolating(
  ingestor: EventIngestor,
  items: readonly IngestItem[],
  ctx: IngestContext,
): Promise<BatchResult> {
  try {
    return await ingestor.ingest(items, ctx);
  } catch (error) {
    if (isTransientDatabaseError(error) || items.length === 0) throw error;
    if (items.length === 1) return ingestor.ingest([refusedItem(items[0] as IngestItem, error)], ctx);
    const half = Math.ceil(items.length / 2);
    const first = await ingestIsolating(ingestor, items.slice(0, half), ctx);
    const second = await ingestIsolating(ingestor, items.slice(half), ctx);
    return merge(first, second, half);
  }
}
