import type { Db } from '../db/database.ts';
import {
  findDaysWithLateData,
  findDaysWithoutCurrentRun,
  listTenantHistoryStarts,
  type TenantDayRange,
} from '../db/repositories/due-day.repository.ts';
import { dayOf, dayRange, latestBillableDay } from '../domain/calendar.ts';

export type DueTrigger = 'schedule' | 'catch-up' | 'late-data';

/**
 * One tenant-day the schedule must bill. `revision` is set for `late-data`: the day's revision
 * when it was planned (part of the job id, so a later change makes a new job).
 */
export interface DueDay {
  tenantId: string;
  day: string;
  trigger: DueTrigger;
  revision?: number;
}

/**
 * Per tenant, the billable days to look at: from its first day (the tenant-local day of its
 * earliest settings version, active or not) to its latest billable day at `now`. Day boundaries
 * and cut-offs come from the calendar module (tenant timezone, DST); tenants without versions or
 * whose first day is not billable yet have no range.
 */
async function billableRanges(db: Db, now: Date): Promise<TenantDayRange[]> {
  const ranges: TenantDayRange[] = [];
  for (const t of await listTenantHistoryStarts(db)) {
    if (t.firstEffectiveAt === null) continue;
    const firstDay = dayOf(t.firstEffectiveAt, t.timezone);
    const lastDay = latestBillableDay(now, t.timezone, t.cutoffHour);
    if (firstDay <= lastDay) ranges.push({ tenantId: t.tenantId, firstDay, lastDay });
  }
  return ranges;
}

/**
 * The work due at instant `now` (the planning job's fixed instant, never the worker's clock),
 * for every tenant:
 * - every billable day without a current run, back to the tenant's first day, oldest first:
 *   `schedule` for the latest billable day, `catch-up` for older ones;
 * - every day with a current run whose revision is above the input revision of its latest run
 *   (current or adjustment): `late-data`.
 * Ordered by tenant and day, the missing days before the late-data days.
 */
export async function findDueDays(db: Db, now: Date): Promise<DueDay[]> {
  const ranges = await billableRanges(db, now);
  const lastDayOf = new Map(ranges.map((r) => [r.tenantId, r.lastDay]));
  const missing = await findDaysWithoutCurrentRun(db, ranges);
  const late = await findDaysWithLateData(db, ranges);
  return [
    ...missing.map(
      (m): DueDay => ({
        tenantId: m.tenantId,
        day: m.day,
        trigger: m.day === lastDayOf.get(m.tenantId) ? 'schedule' : 'catch-up',
      }),
    ),
    ...late.map(
      (l): DueDay => ({ tenantId: l.tenantId, day: l.day, trigger: 'late-data', revision: l.revision }),
    ),
  ];
}

/**
 * Per tenant (every tenant with settings history), the billing lag at `now` in days: the number
 * of days from the oldest billable day without a current run to the latest billable day, both
 * included (only the latest missing: 1), 0 when every billable day has a current run.
 */
export async function billingLag(db: Db, now: Date): Promise<{ tenantId: string; days: number }[]> {
  const ranges = await billableRanges(db, now);
  const oldestMissing = new Map<string, string>();
  for (const m of await findDaysWithoutCurrentRun(db, ranges)) {
    if (!oldestMissing.has(m.tenantId)) oldestMissing.set(m.tenantId, m.day);
  }
  return ranges.map((r) => {
    const oldest = oldestMissing.get(r.tenantId);
    return { tenantId: r.tenantId, days: oldest === undefined ? 0 : dayRange(oldest, r.lastDay).length };
  });
}
