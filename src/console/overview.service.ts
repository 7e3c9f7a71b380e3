import { billingLag } from '../billing/due-days.service.ts';
import type { Db } from '../db/database.ts';
import { countOpenRejectsByTenant, periodFacts } from '../db/repositories/console-month.repository.ts';
import type { DayStatus } from '../domain/anomalies.ts';
import { addDays, dayOf, type Month, monthOf } from '../domain/calendar.ts';
import { sumMinor } from '../domain/money.ts';
import type { Tenant } from '../domain/tenant.ts';
import { reconcileTenantMonths, type TenantMonth } from '../insight/reconcile.service.ts';

export interface MonthSummary {
  month: Month;
  /** Days of the month up to today (from the tenant's first day) per status (reconcile). */
  days: Record<DayStatus, number>;
  /** Days with at least one anomaly. */
  anomalyDays: number;
  closedAt: Date | null;
  /** Current runs of the month plus adjustments invoiced in it: the invoice total so far (minor units). */
  total: number;
}

export interface OverviewRow {
  tenant: Tenant;
  current: MonthSummary;
  previous: MonthSummary;
  openRejects: number;
  /** Days from the oldest billable day without a current run to the latest billable day. */
  lagDays: number;
}

export interface Overview {
  rows: OverviewRow[];
  /** Open rejects that name no tenant. */
  openRejectsWithoutTenant: number;
}

/**
 * Every tenant's current and previous month (in its own zone) at `now`, from one set-based
 * reconcile of all tenants (`reconcileTenantMonths`): the statements do not grow with the tenants.
 */
export async function consoleOverview(db: Db, now: Date): Promise<Overview> {
  const lag = new Map((await billingLag(db, now)).map((l) => [l.tenantId, l.days]));
  const rejects = await countOpenRejectsByTenant(db);
  const monthsOf = (tenant: Tenant): [Month, Month] => {
    const current = monthOf(dayOf(now, tenant.timezone));
    return [monthOf(addDays(`${current}-01`, -1)), current];
  };
  const months = await reconcileTenantMonths(db, { now, monthsOf });
  const ids = [...new Set(months.map((m) => m.tenant.id))];
  const extras = new Map<Month, Awaited<ReturnType<typeof periodFacts>>>();
  for (const month of new Set(months.map((m) => m.month)))
    extras.set(month, await periodFacts(db, ids, month));
  const rows: OverviewRow[] = [];
  for (let i = 0; i + 1 < months.length; i += 2) {
    const prev = months[i] as TenantMonth;
    const cur = months[i + 1] as TenantMonth;
    rows.push({
      tenant: cur.tenant,
      current: summarise(cur, extras),
      previous: summarise(prev, extras),
      openRejects: rejects.get(cur.tenant.id) ?? 0,
      lagDays: lag.get(cur.tenant.id) ?? 0,
    });
  }
  return { rows, openRejectsWithoutTenant: rejects.get('') ?? 0 };
}

function summarise(
  { tenant, month, rows }: TenantMonth,
  extras: ReadonlyMap<Month, Awaited<ReturnType<typeof periodFacts>>>,
): MonthSummary {
  const days: Record<DayStatus, number> = { billed: 0, stale: 0, missing: 0, failed: 0, pending: 0 };
  for (const r of rows) days[r.status] += 1;
  const extra = extras.get(month)?.get(tenant.id);
  return {
    month,
    days,
    anomalyDays: rows.filter((r) => r.anomalies.length > 0).length,
    closedAt: extra?.closedAt ?? null,
    total: sumMinor([...rows.map((r) => r.total), extra?.adjustments ?? 0]),
  };
}
