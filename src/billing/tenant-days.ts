import type { Db } from '../db/database.ts';
import { findTenant, listTenants } from '../db/repositories/tenant.repository.ts';
import { type Day, isValidDay } from '../domain/calendar.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { UnknownTenantError } from './errors.ts';

/**
 * The tenant-days an ops request covers: the tenants in id order and an inclusive range of days
 * (bounds only: a range reaching back decades is never enumerated here).
 */
export interface TenantDays {
  tenants: Tenant[];
  from: Day;
  to: Day;
}

/**
 * Resolves "one tenant or all, from a day to another" — the request shape of run, replay and
 * queued replays — refusing (exit 2) malformed days, an inverted range and an unknown tenant.
 * `to` defaults to `from`.
 */
export async function resolveTenantDays(
  db: Db,
  request: { tenantId?: string | undefined; from: Day; to?: Day | undefined },
): Promise<TenantDays> {
  const to = request.to ?? request.from;
  if (!isValidDay(request.from))
    throw new InputError(`first day: invalid day "${request.from}": expected YYYY-MM-DD`);
  if (!isValidDay(to)) throw new InputError(`last day: invalid day "${to}": expected YYYY-MM-DD`);
  if (to < request.from) throw new InputError(`last day ${to} is before first day ${request.from}`);
  return { tenants: await tenantsOf(db, request.tenantId), from: request.from, to };
}

async function tenantsOf(db: Db, tenantId: string | undefined): Promise<Tenant[]> {
  if (tenantId === undefined) return listTenants(db);
  const tenant = await findTenant(db, tenantId);
  if (!tenant) throw new UnknownTenantError(tenantId);
  return [tenant];
}
