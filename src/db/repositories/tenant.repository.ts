import type { Tenant } from '../../domain/tenant.ts';
import type { Db, TenantRow } from '../database.ts';

function rowToTenant(row: TenantRow): Tenant {
  return {
    id: row.id,
    name: row.name,
    timezone: row.timezone,
    currency: row.currency,
    cutoffHour: row.cutoff_hour,
  };
}

/** Inserts a tenant; returns false when the id is taken. */
export async function insertTenant(db: Db, tenant: Tenant): Promise<boolean> {
  const result = await db
    .insertInto('tenants')
    .values({
      id: tenant.id,
      name: tenant.name,
      timezone: tenant.timezone,
      currency: tenant.currency,
      cutoff_hour: tenant.cutoffHour,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

export async function findTenant(db: Db, id: string): Promise<Tenant | undefined> {
  const row = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? rowToTenant(row) : undefined;
}

export async function listTenants(db: Db): Promise<Tenant[]> {
  const rows = await db.selectFrom('tenants').selectAll().orderBy('id').execute();
  return rows.map(rowToTenant);
}
