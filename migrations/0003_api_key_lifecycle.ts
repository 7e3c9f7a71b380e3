import { type Kysely, sql } from 'kysely';

/*
 * API key lifecycle: an optional expiry, and the last time a key authenticated a request
 * (written at most about once a minute per key, so it is approximate by up to a minute).
 * Frozen in time: never import application code here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE api_keys
      ADD COLUMN expires_at   timestamptz,
      ADD COLUMN last_used_at timestamptz;
    CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, id);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX api_keys_by_tenant;
    ALTER TABLE api_keys DROP COLUMN last_used_at, DROP COLUMN expires_at;
  `.execute(db);
}
