import { addDays, type Day } from './calendar.ts';
import { compareKeys } from './code-point-order.ts';

/** One tenant-day (`day` is tenant-local, `YYYY-MM-DD`). */
export interface TenantDay {
  tenantId: string;
  day: Day;
}

/** An inclusive range of tenant-local days of one tenant (`from <= to`). */
export interface TenantDayRange {
  tenantId: string;
  from: Day;
  to: Day;
}

/**
 * The union of `ranges`, per tenant, as the fewest disjoint ranges: overlapping or adjacent
 * ranges (`to + 1 >= next.from`) merge. Ordered by tenant (code-point order) then day. The number
 * of result ranges never depends on how many days they cover: `[{acme, 2016-01-01..2026-11-30},
 * {acme, 2026-11-30..2026-11-30}]` is one range.
 */
export function mergeDayRanges(ranges: readonly TenantDayRange[]): TenantDayRange[] {
  const sorted = [...ranges].sort((a, b) => compareKeys([a.tenantId, a.from], [b.tenantId, b.from]));
  const out: TenantDayRange[] = [];
  for (const r of sorted) {
    if (r.from > r.to) continue;
    const last = out[out.length - 1];
    if (last && last.tenantId === r.tenantId && r.from <= addDays(last.to, 1)) {
      if (r.to > last.to) last.to = r.to;
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** Single days as ranges, merged: consecutive days of a tenant become one range. */
export function daysToRanges(days: readonly TenantDay[]): TenantDayRange[] {
  return mergeDayRanges(days.map((d) => ({ tenantId: d.tenantId, from: d.day, to: d.day })));
}
