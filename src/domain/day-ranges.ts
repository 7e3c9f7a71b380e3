import { addDays, type Day, dayOf } from './calendar.ts';
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

/** A stretch of instants `[fromMs, toMs]` (both inclusive, integer ms) of a tenant in `zone`. */
export interface TenantInstantSpan {
  tenantId: string;
  zone: string;
  fromMs: number;
  toMs: number;
}

/**
 * The tenant-days that `spans` touch, as `mergeDayRanges` returns them (the fewest disjoint
 * ranges). Spans that overlap or touch in time are joined first, since their days are one range
 * from the first one's day to the last one's: only the joined spans' ends go through the zone.
 * A million back-dated versions whose stretches overlap cost one `dayOf` pair, not a million.
 */
export function spansToDayRanges(spans: readonly TenantInstantSpan[]): TenantDayRange[] {
  const sorted = spans
    .filter((s) => s.fromMs <= s.toMs)
    .sort((a, b) => compareKeys([a.tenantId], [b.tenantId]) || a.fromMs - b.fromMs);
  const ranges: TenantDayRange[] = [];
  let run: TenantInstantSpan | undefined;
  const close = (r: TenantInstantSpan) =>
    ranges.push({
      tenantId: r.tenantId,
      from: dayOf(new Date(r.fromMs), r.zone),
      to: dayOf(new Date(r.toMs), r.zone),
    });
  for (const s of sorted) {
    if (run && run.tenantId === s.tenantId && s.fromMs <= run.toMs + 1) {
      if (s.toMs > run.toMs) run.toMs = s.toMs;
      continue;
    }
    if (run) close(run);
    run = { ...s };
  }
  if (run) close(run);
  return mergeDayRanges(ranges);
}
