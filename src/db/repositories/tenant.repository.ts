import { sql } from 'kysely';
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

/**
 * Inserts the tenants that do not exist yet, in one statement (`unnest` arrays), and returns the
 * ids it inserted; an id that exists is left as it is (ON CONFLICT DO NOTHING).
 */
export async function insertMissingTenants(db: Db, tenants: readonly Tenant[]): Promise<Set<string>> {
  if (tenants.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    INSERT INTO tenants (id, name, timezone, currency, cutoff_hour)
    SELECT * FROM unnest(${tenants.map((t) => t.id)}::text[], ${tenants.map((t) => t.name)}::text[],
                         ${tenants.map((t) => t.timezone)}::text[], ${tenants.map((t) => t.currency)}::text[],
                         ${tenants.map((t) => t.cutoffHour)}::int[])
    ON CONFLICT (id) DO NOTHING
    RETURNING id`.execute(db);
  return new Set(rows.map((r) => r.id));
}

/** The stored tenants among `ids`, by id. */
export async function findTenants(db: Db, ids: readonly string[]): Promise<Map<string, Tenant>> {
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('tenants').selectAll().where('id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, rowToTenant(r)]));
}
