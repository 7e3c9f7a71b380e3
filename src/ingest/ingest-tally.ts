import type { TenantDayTally } from '../db/repositories/ingest-count.repository.ts';
import type { IngestItem } from './event-ingest.service.ts';
import type { LoginEvent } from './login-event.schema.ts';

/**
 * Per tenant-day of a judged batch: how many events were stored and how many were already
 * stored (re-deliveries, also repeats inside the batch). Rejected items are not counted here
 * (they are kept in `ingest_rejects`). `dayOf` gives the tenant-local day of a valid event.
 */
export function tallyTenantDays(
  items: readonly IngestItem[],
  kindOf: (index: number) => 'accepted' | 'duplicate' | 'rejected',
  dayOf: (event: LoginEvent) => string,
): TenantDayTally[] {
  // tenant -> day -> tally: no key string per event.
  const byTenant = new Map<string, Map<string, TenantDayTally>>();
  const all: TenantDayTally[] = [];
  for (let i = 0; i < items.length; i++) {
    const parsed = (items[i] as IngestItem).parsed;
    if (!parsed.ok) continue;
    const kind = kindOf(i);
    if (kind === 'rejected') continue;
    const e = parsed.event;
    const day = dayOf(e);
    let days = byTenant.get(e.tenantId);
    if (!days) {
      days = new Map();
      byTenant.set(e.tenantId, days);
    }
    let t = days.get(day);
    if (!t) {
      t = { tenantId: e.tenantId, day, accepted: 0, duplicates: 0 };
      days.set(day, t);
      all.push(t);
    }
    if (kind === 'accepted') t.accepted += 1;
    else t.duplicates += 1;
  }
  return all;
}
