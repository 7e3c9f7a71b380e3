import type { Db } from '../db/database.ts';
import { findPeriod, insertPeriod, lockPeriod } from '../db/repositories/period.repository.ts';
import { daysWithCurrentRun } from '../db/repositories/run.repository.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import { billableAt, isValidMonth, type Month, monthDays } from '../domain/calendar.ts';
import { InputError } from '../errors.ts';
import { UnknownTenantError } from './errors.ts';
import { tenantFirstDay } from './tenant-first-day.ts';

export interface ClosePeriodInput {
  tenantId: string;
  month: Month;
  now: Date;
}

/**
 * Closes a tenant's period (`docs/billing.md`, Periods): only when every day from the later of the
 * month's first day and the tenant's first day to the month's last day is billable at `now` and
 * has a current run; otherwise InputError (exit 2) listing the missing days. Closing a closed
 * period again changes nothing (`closed: false`). Holds the period lock exclusively, so no run
 * of the month can be half-way while it closes.
 */
export async function closePeriod(
  db: Db,
  input: ClosePeriodInput,
): Promise<{ closed: boolean; month: Month }> {
  if (!isValidMonth(input.month)) throw new InputError(`invalid month "${input.month}": expected YYYY-MM`);
  const tenant = await findTenant(db, input.tenantId);
  if (!tenant) throw new UnknownTenantError(input.tenantId);
  const firstDay = await tenantFirstDay(db, tenant);
  return inTransaction(db, async (trx) => {
    await lockPeriod(trx, tenant.id, input.month, 'exclusive');
    // Closed already: nothing changes, even if a back-dated import has since added unbilled days.
    if (await findPeriod(trx, tenant.id, input.month)) return { closed: false, month: input.month };
    const days = monthDays(input.month).filter((d) => firstDay !== undefined && d >= firstDay);
    const have =
      days.length === 0
        ? new Set<string>()
        : await daysWithCurrentRun(trx, tenant.id, days[0] as string, days[days.length - 1] as string);
    const missing = days.filter(
      (d) =>
        !have.has(d) || billableAt(d, tenant.timezone, tenant.cutoffHour).getTime() > input.now.getTime(),
    );
    if (missing.length > 0) {
      throw new InputError(
        `cannot close ${input.month} of tenant "${tenant.id}": ${missing.length} day(s) not billed yet (or not billable yet): ${missing.join(', ')}`,
        'PERIOD_INCOMPLETE',
      );
    }
    const inserted = await insertPeriod(trx, tenant.id, input.month, input.now);
    return { closed: inserted, month: input.month };
  });
}
