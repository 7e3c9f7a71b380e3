import type { TenantDayTally } from '../db/repositories/ingest-count.repository.ts';
import type { IngestItem } from './event-ingest.service.ts';

/**
 * Per tenant-day of a judged batch: how many events were stored and how many were already
 * stored (re-deliveries, also repeats inside the batch). Rejected items are not counted here
 * (they are kept in `ingest_rejects`). `dayOf` gives the tenant-local day of a valid event.
 */
export function tallyTenantDays(
  items: readonly IngestItem[],
  kindOf: (index: number) => 'accepted' | 'duplicate' | 'rejected',
  dayOf: (tenantId: string, occurredAtMs: number) => string,
): TenantDayTally[] {
  const byKey = new Map<string, TenantDayTally>();
  items.forEach((item, i) => {
    if (!item.parsed.ok) return;
    const kind = kindOf(i);
    if (kind === 'rejected') return;
    const e = item.parsed.event;
    const day = dayOf(e.tenantId, e.occurredAtMs);
    const key = `${e.tenantId}\u0000${day}`;
    let t = byKey.get(key);
    if (!t) {
      t = { tenantId: e.tenantId, day, accepted: 0, duplicates: 0 };
      byKey.set(key, t);
    }
    if (kind === 'accepted') t.accepted += 1;
    else t.duplicates += 1;
  });
  return [...byKey.values()];
}
