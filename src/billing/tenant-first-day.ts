import type { Db } from '../db/database.ts';
import { firstVersionInstant } from '../db/repositories/day-lines.repository.ts';
import { type Day, dayOf } from '../domain/calendar.ts';
import type { Tenant } from '../domain/tenant.ts';

/**
 * The tenant's first day (`docs/billing.md`, Runs): the local day of its earliest settings version,
 * active or not. Undefined while it has no version at all (nothing to bill). A back-dated import
 * can move it back.
 */
export async function tenantFirstDay(db: Db, tenant: Tenant): Promise<Day | undefined> {
  const first = await firstVersionInstant(db, tenant.id);
  return first ? dayOf(first, tenant.timezone) : undefined;
}
