import { type Kysely, sql } from 'kysely';

/*
 * Settings import speed (issue 10). Frozen in time: never import application code here.
 *
 * The license-interval trigger of 0008 recomputes, after every insert into settings_versions,
 * the intervals of each user the statement gave a version: it reads those users' versions back,
 * sorts them and writes the intervals, which cost the importer more than storing the versions.
 * A writer that already knows the answer may now write the intervals itself: it sets the
 * transaction-local `billing.license_intervals_by_writer` to 'on' around its own insert, after
 * taking the tenants' advisory locks as the trigger does, and the trigger then leaves that
 * statement alone (the trigger's WHEN). The settings repository does so: brand-new users'
 * intervals straight from its staging table in the insert's own statement, the others through
 * license_intervals_refresh_users. Every other writer (a restore, a seed, psql) is unchanged: the
 * trigger keeps their intervals right. A writer that sets the flag must hold the locks before it
 * inserts; a plain writer inserting the very same key at the same moment may then deadlock with
 * it (PostgreSQL aborts one of the two, a transient error: the importer fails and a re-run is exact).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER settings_versions_license_intervals ON settings_versions;
    CREATE TRIGGER settings_versions_license_intervals
      AFTER INSERT ON settings_versions
      REFERENCING NEW TABLE AS new_versions
      FOR EACH STATEMENT
      WHEN (current_setting('billing.license_intervals_by_writer', true) IS DISTINCT FROM 'on')
      EXECUTE FUNCTION license_intervals_refresh();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER settings_versions_license_intervals ON settings_versions;
    CREATE TRIGGER settings_versions_license_intervals
      AFTER INSERT ON settings_versions
      REFERENCING NEW TABLE AS new_versions
      FOR EACH STATEMENT EXECUTE FUNCTION license_intervals_refresh();
  `.execute(db);
}
