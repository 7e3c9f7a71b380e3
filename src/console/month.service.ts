import { PassThrough, type Readable } from 'node:stream';
import { tenantFirstDay } from '../billing/tenant-first-day.ts';
import type { Db } from '../db/database.ts';
import { type ConsoleAuditEntry, listConsoleAudit } from '../db/repositories/console-audit.repository.ts';
import {
  fillRunTotals,
  type ItemTotal,
  monthItemTotals,
} from '../db/repositories/console-month.repository.ts';
import { findPeriod } from '../db/repositories/period.repository.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import type { Anomaly, DayStatus } from '../domain/anomalies.ts';
import { type Day, isValidMonth, type Month, monthDays } from '../domain/calendar.ts';
import { sumMinor } from '../domain/money.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { writeInvoiceCsv } from '../export/invoice-csv.ts';
import { NotFoundError } from '../insight/errors.ts';
import { reconcileMonth } from '../insight/reconcile.service.ts';

/** A calendar cell: a reconcile status, or why the day has none. */
export type CalendarStatus = DayStatus | 'before-start' | 'future';

export interface CalendarDay {
  day: Day;
  status: CalendarStatus;
  activeUsers: number;
  lines: number;
  /** The current run's total (minor units); 0 without one. */
  total: number;
  runId: string | null;
  rejectsOpen: number;
  anomalies: Anomaly[];
}

export interface CloseCheck {
  closedAt: Date | null;
  /** Why `billing close` would refuse now; empty when it would close the month. */
  refusals: string[];
  /** Allowed, but worth a look before closing. */
  warnings: string[];
}

export interface MonthPage {
  tenant: Tenant;
  month: Month;
  days: CalendarDay[];
  items: ItemTotal[];
  /** The invoice total so far (minor units): equal to the sum of the invoice CSV's amounts. */
  total: number;
  unattributedRejects: number;
  close: CloseCheck;
  audit: ConsoleAuditEntry[];
}

/**
 * The month of one tenant at `now`: day statuses, activity, totals and anomalies from
 * `reconcileMonth`; totals by item and billing mode from the per-run sums (filled once per run);
 * the preconditions of closing it, judged as `closePeriod` judges them.
 */
export async function consoleMonth(
  db: Db,
  q: { tenantId: string; month: string; now: Date },
): Promise<MonthPage> {
  if (!isValidMonth(q.month)) throw new InputError(`month: invalid month "${q.month}": expected YYYY-MM`);
  const tenant = await findTenant(db, q.tenantId);
  if (!tenant) throw new NotFoundError(`unknown tenant "${q.tenantId}"`, 'UNKNOWN_TENANT');
  const reconciliation = await reconcileMonth(db, { month: q.month, tenantId: tenant.id, now: q.now });
  const rows = new Map(reconciliation.rows.map((r) => [r.day, r]));
  const first = await tenantFirstDay(db, tenant);
  const all = monthDays(q.month);
  const days: CalendarDay[] = all.map((day) => {
    const r = rows.get(day);
    if (r === undefined) {
      const status = first === undefined || day < first ? 'before-start' : 'future';
      return { day, status, activeUsers: 0, lines: 0, total: 0, runId: null, rejectsOpen: 0, anomalies: [] };
    }
    return {
      day,
      status: r.status,
      activeUsers: r.activeUsers,
      lines: r.lines,
      total: r.total,
      runId: r.runId,
      rejectsOpen: r.rejectsOpen,
      anomalies: r.anomalies,
    };
  });
  await fillRunTotals(db, tenant.id, all[0] as Day, all.at(-1) as Day);
  const items = await monthItemTotals(db, {
    tenantId: tenant.id,
    month: q.month,
    from: all[0] as Day,
    to: all.at(-1) as Day,
  });
  const closedAt = (await findPeriod(db, tenant.id, q.month))?.closedAt ?? null;
  return {
    tenant,
    month: q.month,
    days,
    items,
    total: sumMinor(items.map((i) => i.amount)),
    unattributedRejects: reconciliation.unattributedRejects,
    close: closeCheck(days, closedAt),
    audit: await listConsoleAudit(db, tenant.id, q.month, 20),
  };
}

/**
 * The preconditions of `closePeriod` (billing.md, Periods) over the calendar: every day from the
 * tenant's first day to the month's last day is billable and has a current run. The close
 * itself checks them again under the period lock; this only explains a refusal in advance.
 */
export function closeCheck(days: readonly CalendarDay[], closedAt: Date | null): CloseCheck {
  if (closedAt !== null) {
    return { closedAt, refusals: [`already closed on ${closedAt.toISOString()}`], warnings: [] };
  }
  const owed = days.filter((d) => d.status !== 'before-start');
  const notYet = owed.filter((d) => d.status === 'future' || d.status === 'pending').map((d) => d.day);
  const unbilled = owed
    .filter((d) => d.runId === null && d.status !== 'future' && d.status !== 'pending')
    .map((d) => d.day);
  const refusals: string[] = [];
  if (unbilled.length > 0)
    refusals.push(`${unbilled.length} day(s) have no current run: ${unbilled.join(', ')}`);
  if (notYet.length > 0)
    refusals.push(
      `${notYet.length} day(s) are not billable yet (before their cut-off): ${notYet.join(', ')}`,
    );
  const stale = owed.filter((d) => d.status === 'stale').map((d) => d.day);
  const failed = owed.filter((d) => d.status === 'failed' && d.runId !== null).map((d) => d.day);
  const rejects = sumMinor(owed.map((d) => d.rejectsOpen));
  const warnings: string[] = [];
  if (stale.length > 0)
    warnings.push(
      `${stale.length} day(s) received data after their run (stale): ${stale.join(', ')}; after closing, re-billing them writes adjustments`,
    );
  if (failed.length > 0)
    warnings.push(`the last attempt to re-bill ${failed.length} day(s) failed: ${failed.join(', ')}`);
  if (rejects > 0) warnings.push(`${rejects} open reject(s) are attributed to days of this month`);
  return { closedAt: null, refusals, warnings };
}

/**
 * The tenant's invoice CSV of `month` as a stream: the same writer as `billing export --month M
 * --tenant T` (`writeInvoiceCsv`), so the bytes are the same. The tenant and month are checked
 * before the first byte, so a bad one is an error page rather than a truncated file.
 */
export async function invoiceCsvStream(db: Db, q: { tenantId: string; month: string }): Promise<Readable> {
  if (!isValidMonth(q.month)) throw new InputError(`month: invalid month "${q.month}": expected YYYY-MM`);
  if (!(await findTenant(db, q.tenantId)))
    throw new NotFoundError(`unknown tenant "${q.tenantId}"`, 'UNKNOWN_TENANT');
  const out = new PassThrough();
  writeInvoiceCsv(db, { month: q.month, tenantId: q.tenantId }, out).then(
    () => out.end(),
    (error: Error) => out.destroy(error),
  );
  return out;
}
