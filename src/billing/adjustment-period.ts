import type { Db } from '../db/database.ts';
import { listAdjustmentLines } from '../db/repositories/adjustment-line.repository.ts';
import { closedMonthsAfter } from '../db/repositories/period.repository.ts';
import type { Month } from '../domain/calendar.ts';
import { sumMinor } from '../domain/money.ts';
import type { Run } from '../domain/run.ts';

/** The month after `month` (`2026-12` -> `2027-01`). */
export function nextMonth(month: Month): Month {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return m === 12
    ? `${String(y + 1).padStart(4, '0')}-01`
    : `${String(y).padStart(4, '0')}-${String(m + 1).padStart(2, '0')}`;
}

/**
 * The period adjustments of a day of closed month `month` are invoiced in: the earliest month
 * after it that has no `periods` row (it may lie in the future).
 */
export async function adjustmentPeriod(db: Db, tenantId: string, month: Month): Promise<Month> {
  const closed = new Set(await closedMonthsAfter(db, tenantId, month));
  let candidate = nextMonth(month);
  while (closed.has(candidate)) candidate = nextMonth(candidate);
  return candidate;
}

/** What is billed for a day: its current run's total plus every adjustment written for it (minor units). */
export async function billedTotal(
  db: Db,
  tenantId: string,
  day: string,
  current: Run | undefined,
): Promise<number> {
  const adjustments = await listAdjustmentLines(db, { tenantId, day });
  return sumMinor([current?.total ?? 0, ...adjustments.map((a) => a.amount)]);
}
