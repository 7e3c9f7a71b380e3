import { type Kysely, sql } from 'kysely';

/*
 * Settings write speed (issue 10). Frozen in time: never import application code here.
 *
 * The foreign key settings_versions -> tenants is checked per row: at an import of a million
 * versions it cost a third of what storing a version costs the server (12.5 -> 8.1 µs of CPU per
 * version, COPY of 100,000 versions). Tenants are never deleted, and every writer of versions
 * goes through the settings repository, which locks the batch's tenant rows (FOR KEY SHARE, what
 * the foreign key's check takes) and refuses a batch naming the tenant that does not exist,
 * once per batch instead of once per row (docs/decisions.md, "Settings write speed").
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE settings_versions DROP CONSTRAINT settings_versions_tenant_id_fkey`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE settings_versions ADD CONSTRAINT settings_versions_tenant_id_fkey
    FOREIGN KEY (tenant_id) REFERENCES tenants (id)`.execute(db);
}
