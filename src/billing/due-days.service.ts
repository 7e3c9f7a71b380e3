import type { Db } from '../db/database.ts';
import { pruneConsumedMarks } from '../db/repositories/day-revision.repository.ts';
import {
  type DueCursor,
  findDueDayPage,
  lagDays,
  listTenantPlanStarts,
  type PlanRange,
  planWithoutJit,
} from '../db/repositories/due-day.repository.ts';
import { inReadOnlySnapshot } from '../db/transaction.ts';
import { dayOf, latestBillableDay } from '../domain/calendar.ts';
import type { Revision } from '../domain/run.ts';

export type DueTrigger = 'schedule' | 'catch-up' | 'late-data';
export type { DueCursor };

/**
 * One tenant-day the schedule must bill. `revision` is set for `late-data`: the day's revision
 * when it was planned (part of the job id, so a later change makes a new job).
 */
export interface DueDay {
  tenantId: string;
  day: string;
  trigger: DueTrigger;
  revision?: Revision;
}

/** The default page of `findDueDays` and the page size of `duePages`. */
export const DUE_PAGE_SIZE = 1000;

/**
 * Per tenant, the days to plan: from its first PLANNABLE day — the later of its first day (the
 * tenant-local day of its earliest settings version, active or not) and the first day a price
 * book applies to it (own or default): before that nobody can be billed, so a version back-dated
 * to 2000 does not queue twenty years of jobs that can only fail — to its latest billable day at
 * `now`. Day boundaries and cut-offs come from the calendar module (tenant timezone, DST).
 * Tenants without versions or books, or whose first day is not billable yet, have no range.
 */
export async function planRanges(db: Db, now: Date): Promise<PlanRange[]> {
  const ranges: PlanRange[] = [];
  for (const t of await listTenantPlanStarts(db)) {
    if (t.firstEffectiveAt === null || t.firstBookDay === null) continue;
    const firstVersionDay = dayOf(t.firstEffectiveAt, t.timezone);
    const firstDay = [firstVersionDay, t.firstBookDay].sort()[1] as string; // the later one
    const lastDay = latestBillableDay(now, t.timezone, t.cutoffHour);
    if (firstDay <= lastDay) ranges.push({ tenantId: t.tenantId, firstDay, lastDay });
  }
  return ranges;
}

export interface DuePage {
  days: DueDay[];
  /** Where the next page starts; null when this page was the last. */
  next: DueCursor | null;
}

/**
 * One page of the work due at instant `now` (the planning job's fixed instant, never the
 * worker's clock), for every tenant, in plan order: each tenant's due days oldest first, the
 * tenants in turn (every tenant's oldest due day, then every tenant's second, …):
 * - every plannable day without a current run: `schedule` for the latest billable day,
 *   `catch-up` for older ones;
 * - every day with a current run whose revision is above the input revision of its latest run
 *   (current or adjustment): `late-data`.
 * At most `limit` days after `after` (keyset); the cost of a page never grows with how far back
 * the history goes.
 */
export async function findDuePage(
  db: Db,
  now: Date,
  page: { after?: DueCursor | null; limit?: number; ranges?: readonly PlanRange[] } = {},
): Promise<DuePage> {
  const limit = page.limit ?? DUE_PAGE_SIZE;
  const ranges = page.ranges ?? (await planRanges(db, now));
  const lastDayOf = new Map(ranges.map((r) => [r.tenantId, r.lastDay]));
  const rows = await inReadOnlySnapshot(db, async (trx) => {
    await planWithoutJit(trx);
    return findDueDayPage(trx, ranges, { after: page.after ?? null, limit });
  });
  const days = rows.map((r): DueDay => {
    if (r.revision !== null) {
      return { tenantId: r.tenantId, day: r.day, trigger: 'late-data', revision: r.revision };
    }
    const trigger = r.day === lastDayOf.get(r.tenantId) ? 'schedule' : 'catch-up';
    return { tenantId: r.tenantId, day: r.day, trigger };
  });
  const last = rows[rows.length - 1];
  return { days, next: last && rows.length === limit ? { rank: last.rank, tenantId: last.tenantId } : null };
}

/** The first page (at most `limit`, default 1,000) of the due work at `now`: see `findDuePage`. */
export async function findDueDays(db: Db, now: Date, limit = DUE_PAGE_SIZE): Promise<DueDay[]> {
  return (await findDuePage(db, now, { limit })).days;
}

/**
 * The due work at `now` in plan order, page by page (keyset), at most `max` days in all: what
 * one plan looks at. First drops the day marks that can no longer make a day due, so the
 * late-data join stays at the size of the unfinished work.
 */
export async function* duePages(
  db: Db,
  now: Date,
  max: number,
  pageSize = DUE_PAGE_SIZE,
): AsyncGenerator<DueDay[]> {
  await pruneConsumedMarks(db);
  const ranges = await planRanges(db, now);
  let after: DueCursor | null = null;
  let seen = 0;
  while (seen < max) {
    const limit = Math.min(pageSize, max - seen);
    const page = await findDuePage(db, now, { after, limit, ranges });
    if (page.days.length > 0) yield page.days;
    seen += page.days.length;
    if (page.next === null) return;
    after = page.next;
  }
}

/**
 * Per tenant with a plannable range, the billing lag at `now` in days: the number of days from
 * the oldest plannable day without a current run to the latest billable day, both included
 * (only the latest missing: 1), 0 when every such day has a current run. One aggregate query.
 */
export async function billingLag(db: Db, now: Date): Promise<{ tenantId: string; days: number }[]> {
  const ranges = await planRanges(db, now);
  return inReadOnlySnapshot(db, async (trx) => {
    await planWithoutJit(trx);
    return lagDays(trx, ranges);
  });
}
