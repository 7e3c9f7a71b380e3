import { billingLag } from '../billing/due-days.service.ts';
import type { Db } from '../db/database.ts';
import {
  countOpenRejectsByTenant,
  sumPeriodAdjustments,
} from '../db/repositories/console-month.repository.ts';
import { findPeriod } from '../db/repositories/period.repository.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import type { DayStatus } from '../domain/anomalies.ts';
import { addDays, dayOf, type Month, monthOf } from '../domain/calendar.ts';
import { sumMinor } from '../domain/money.ts';
import type { Tenant } from '../domain/tenant.ts';
import { type Reconciliation, reconcileMonths } from '../insight/reconcile.service.ts';

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

/** Every tenant's current and previous month (in its own zone) at `now`, from `reconcileMonth`. */
export async function consoleOverview(db: Db, now: Date): Promise<Overview> {
  const tenants = await listTenants(db);
  const lag = new Map((await billingLag(db, now)).map((l) => [l.tenantId, l.days]));
  const rejects = await countOpenRejectsByTenant(db);
  const rows: OverviewRow[] = [];
  for (const tenant of tenants) {
    const current = monthOf(dayOf(now, tenant.timezone));
    const previous = monthOf(addDays(`${current}-01`, -1));
    // Both months in one reconcile: the tenant's open rejects are read and attributed once.
    const [prev, cur] = await reconcileMonths(db, { months: [previous, current], tenantId: tenant.id, now });
    rows.push({
      tenant,
      current: await summarise(db, tenant, cur as Reconciliation),
      previous: await summarise(db, tenant, prev as Reconciliation),
      openRejects: rejects.get(tenant.id) ?? 0,
      lagDays: lag.get(tenant.id) ?? 0,
    });
  }
  return { rows, openRejectsWithoutTenant: rejects.get('') ?? 0 };
}

async function summarise(db: Db, tenant: Tenant, { month, rows }: Reconciliation): Promise<MonthSummary> {
  const days: Record<DayStatus, number> = { billed: 0, stale: 0, missing: 0, failed: 0, pending: 0 };
  for (const r of rows) days[r.status] += 1;
  const adjustments = (await sumPeriodAdjustments(db, [tenant.id], month)).get(tenant.id) ?? 0;
  return {
    month,
    days,
    anomalyDays: rows.filter((r) => r.anomalies.length > 0).length,
    closedAt: (await findPeriod(db, tenant.id, month))?.closedAt ?? null,
    total: sumMinor([...rows.map((r) => r.total), adjustments]),
  };
}
