import type { Db } from '../db/database.ts';
import { listTenantPlanStarts } from '../db/repositories/due-day.repository.ts';
import { listAllPriceBooks } from '../db/repositories/price-book.repository.ts';
import { type Day, dayOf } from '../domain/calendar.ts';
import type { PriceBook } from '../domain/price-book.ts';
import type { Tenant } from '../domain/tenant.ts';

/**
 * What billing a tenant-day reads before its transaction and what does not change within a
 * night: the tenant, its first day, and the price books it can use (its own and the default
 * ones). Read once per night for every tenant (`loadNight`) instead of three queries per
 * tenant-day; `billDay` reads them itself when it is not given them.
 */
export interface KnownTenant {
  tenant: Tenant;
  /** The local day of the tenant's earliest settings version; undefined without versions. */
  firstDay: Day | undefined;
  /** The tenant's own books and the default books, oldest first. */
  priceBooks: PriceBook[];
}

/**
 * Reads, in two queries whatever the number of tenants, the `KnownTenant` of each of `tenants`
 * (first days from the planner's one grouped query, every price book once).
 */
export async function loadNight(db: Db, tenants: readonly Tenant[]): Promise<Map<string, KnownTenant>> {
  const starts = new Map((await listTenantPlanStarts(db)).map((s) => [s.tenantId, s.firstEffectiveAt]));
  const defaults: PriceBook[] = [];
  const own = new Map<string, PriceBook[]>();
  for (const book of await listAllPriceBooks(db)) {
    if (book.tenantId === null) defaults.push(book);
    else {
      const list = own.get(book.tenantId);
      if (list) list.push(book);
      else own.set(book.tenantId, [book]);
    }
  }
  const known = new Map<string, KnownTenant>();
  for (const tenant of tenants) {
    const first = starts.get(tenant.id) ?? null;
    known.set(tenant.id, {
      tenant,
      firstDay: first === null ? undefined : dayOf(first, tenant.timezone),
      priceBooks: [...(own.get(tenant.id) ?? []), ...defaults],
    });
  }
  return known;
}
