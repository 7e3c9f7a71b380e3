import type { Db } from '../db/database.ts';
import { findPeriod } from '../db/repositories/period.repository.ts';
import { listRuns } from '../db/repositories/run.repository.ts';
import { countMonthlyPrices, sumUsageItems, type UsageItemRow } from '../db/repositories/usage.repository.ts';
import { inReadOnlySnapshot } from '../db/transaction.ts';
import { type Day, dayOf, monthDays, monthOf } from '../domain/calendar.ts';
import { sumMinor } from '../domain/money.ts';
import { projectMonthTotal } from '../domain/usage-projection.ts';
import { billableRange, requireMonth, requireTenant } from './insight-range.ts';

export interface Usage {
  tenantId: string;
  month: string;
  currency: string;
  /** Latest day D such that every day of the month from the tenant's first day to D is billed. */
  billedThrough: Day | null;
  items: UsageItemRow[];
  /** Equal to the invoice CSV's total for the tenant and month. */
  total: number;
  /** An estimate (see `projectMonthTotal`), never an amount that was billed. */
  projectedTotal: number;
  projectedTotalIsEstimate: true;
  closed: boolean;
}

/**
 * `GET /v1/usage`: the tenant's month to date per item and billing mode, the total the invoice
 * would show now (current runs' lines + adjustments invoiced in the month) and an estimate of the
 * month's total. Default month: the tenant's current month at `now`. Reads only.
 */
export async function monthUsage(
  db: Db,
  q: { tenantId: string; month?: string | undefined; now: Date },
): Promise<Usage> {
  return inReadOnlySnapshot(db, async (trx) => {
    const tenant = await requireTenant(trx, q.tenantId);
    const month = requireMonth(q.month ?? monthOf(dayOf(q.now, tenant.timezone)), tenant, q.now);
    const days = monthDays(month);
    const items = await sumUsageItems(trx, {
      tenantId: tenant.id,
      month,
      from: days[0] as Day,
      to: days.at(-1) as Day,
    });
    const total = sumMinor(items.map((i) => i.amount));
    const runs = await listRuns(trx, { tenantId: tenant.id, month });
    const billed = new Set(runs.map((r) => r.day));
    const { first } = await billableRange(trx, tenant, q.now);
    const closed = (await findPeriod(trx, tenant.id, month)) !== undefined;
    const owed = days.filter((d) => first !== undefined && d >= first);
    let billedThrough: Day | null = null;
    for (const d of owed) {
      if (!billed.has(d)) break;
      billedThrough = d;
    }
    const latest = runs.at(-1);
    const remaining = closed
      ? []
      : owed.filter((d) => !billed.has(d) && (latest === undefined || d > latest.day));
    const projectedTotal =
      latest === undefined
        ? total
        : projectMonthTotal({
            total,
            remainingDays: remaining,
            monthlyPrices: await countMonthlyPrices(trx, latest.id),
            dailyAmount: sumMinor(
              items
                .filter((i) => i.billing === 'daily' && !i.item.startsWith('adjustment.'))
                .map((i) => i.amount),
            ),
            billedDays: billed.size,
          });
    return {
      tenantId: tenant.id,
      month,
      currency: tenant.currency,
      billedThrough,
      items,
      total,
      projectedTotal,
      projectedTotalIsEstimate: true,
      closed,
    };
  });
}
