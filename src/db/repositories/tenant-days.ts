import { type RawBuilder, sql } from 'kysely';

/** Some tenants and a span of their days, `from`..`to` (both included): the key of the per tenant-day reads. */
export interface TenantDays {
  tenantIds: readonly string[];
  from: string;
  to: string;
}

/** The one filter of a per tenant-day read: `tenant_id` among the tenants and `day` within the span. */
export function inTenantDays(s: TenantDays): RawBuilder<unknown> {
  return sql`tenant_id = ANY (${[...s.tenantIds]}::text[]) AND day BETWEEN ${s.from}::date AND ${s.to}::date`;
}
