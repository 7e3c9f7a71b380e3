import { type Selectable, sql } from 'kysely';
import type { StoredSettingsVersion } from '../../domain/settings-version.ts';
import type { Db, SettingsVersionsTable } from '../database.ts';

export interface VersionKey {
  tenantId: string;
  userId: string;
  effectiveAt: Date;
}

const keyArrays = (keys: readonly VersionKey[]) => ({
  tenants: keys.map((k) => k.tenantId),
  users: keys.map((k) => k.userId),
  instants: keys.map((k) => k.effectiveAt.toISOString()),
});

/** The stored versions with these keys (for telling a repeat from a conflict). */
export async function findSettingsVersions(
  db: Db,
  keys: readonly VersionKey[],
): Promise<StoredSettingsVersion[]> {
  if (keys.length === 0) return [];
  const { tenants, users, instants } = keyArrays(keys);
  const { rows } = await sql<Selectable<SettingsVersionsTable>>`
    SELECT v.* FROM settings_versions v
    JOIN unnest(${tenants}::text[], ${users}::text[], ${instants}::timestamptz[]) AS k(t, u, e)
      ON v.tenant_id = k.t AND v.user_id = k.u AND v.effective_at = k.e
  `.execute(db);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    userId: r.user_id,
    effectiveAt: r.effective_at,
    active: r.active,
    email: r.email,
    lastName: r.last_name,
    settings: r.settings as Record<string, unknown>,
    license: r.license,
    billing: r.billing,
    recordCalls: r.record_calls,
    reasons: r.reasons,
  }));
}
