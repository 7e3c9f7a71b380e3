import { tenantFirstDay } from '../billing/tenant-first-day.ts';
import type { Db } from '../db/database.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import { type Day, dayOf, isValidDay, isValidMonth, latestBillableDay, monthOf } from '../domain/calendar.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { NotFoundError } from './errors.ts';

/** The tenant, or NotFoundError naming it. */
export async function requireTenant(db: Db, tenantId: string): Promise<Tenant> {
  const tenant = await findTenant(db, tenantId);
  if (!tenant) throw new NotFoundError(`unknown tenant "${tenantId}"`, 'UNKNOWN_TENANT');
  return tenant;
}

/** A well-formed month that has begun in the tenant's zone at `now`; InputError otherwise. */
export function requireMonth(month: string, tenant: Tenant | undefined, now: Date, what = 'month'): string {
  if (!isValidMonth(month)) throw new InputError(`${what}: invalid month "${month}": expected YYYY-MM`);
  const current = monthOf(dayOf(now, tenant?.timezone ?? 'UTC'));
  if (month > current) {
    throw new InputError(
      `${what}: month ${month} is in the future${tenant ? ` for tenant "${tenant.id}"` : ''} (current month: ${current})`,
      'MONTH_IN_FUTURE',
    );
  }
  return month;
}

/** The days a tenant can be explained on: its first day to its latest billable day at `now`. */
export async function billableRange(
  db: Db,
  tenant: Tenant,
  now: Date,
): Promise<{ first: Day | undefined; last: Day }> {
  return {
    first: await tenantFirstDay(db, tenant),
    last: latestBillableDay(now, tenant.timezone, tenant.cutoffHour),
  };
}

/** A well-formed day inside the tenant's billable range; InputError naming it otherwise. */
export function requireBillableDay(
  day: string,
  tenant: Tenant,
  range: { first: Day | undefined; last: Day },
  what = 'day',
): Day {
  if (!isValidDay(day)) throw new InputError(`${what}: invalid day "${day}": expected YYYY-MM-DD`);
  if (range.first === undefined || day < range.first) {
    throw new InputError(
      `${what}: day ${day} is before tenant "${tenant.id}"'s first day (${range.first ?? 'none: no settings yet'})`,
      'DAY_OUT_OF_RANGE',
    );
  }
  if (day > range.last) {
    throw new InputError(
      `${what}: day ${day} of tenant "${tenant.id}" is not billable yet (latest billable day: ${range.last})`,
      'DAY_OUT_OF_RANGE',
    );
  }
  return day;
}
