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

/** Inserts versions that do not exist yet (one statement); returns the keys actually inserted. */
export async function insertSettingsVersions(
  db: Db,
  versions: readonly StoredSettingsVersion[],
): Promise<VersionKey[]> {
  if (versions.length === 0) return [];
  const rows = await db
    .insertInto('settings_versions')
    .values(
      versions.map((v) => ({
        tenant_id: v.tenantId,
        user_id: v.userId,
        effective_at: v.effectiveAt,
        active: v.active,
        email: v.email,
        last_name: v.lastName,
        settings: JSON.stringify(v.settings),
        license: v.license,
        billing: v.billing,
        record_calls: v.recordCalls,
        reasons: JSON.stringify(v.reasons),
      })),
    )
    .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'effective_at']).doNothing())
    .returning(['tenant_id', 'user_id', 'effective_at'])
    .execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, userId: r.user_id, effectiveAt: r.effective_at }));
}

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

/** For each key, the `effectiveAt` of the user's next version, if any (the end of its interval). */
export async function findSuccessorInstants(db: Db, keys: readonly VersionKey[]): Promise<(Date | null)[]> {
  if (keys.length === 0) return [];
  const { tenants, users, instants } = keyArrays(keys);
  const result = await sql<{ ord: string; next_at: Date | null }>`
    SELECT k.ord, (
      SELECT min(v.effective_at) FROM settings_versions v
      WHERE v.tenant_id = k.t AND v.user_id = k.u AND v.effective_at > k.e
    ) AS next_at
    FROM unnest(${tenants}::text[], ${users}::text[], ${instants}::timestamptz[]) WITH ORDINALITY AS k(t, u, e, ord)
    ORDER BY k.ord
  `.execute(db);
  return result.rows.map((r) => r.next_at);
}
