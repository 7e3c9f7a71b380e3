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
 * statement alone. The settings repository does so (brand-new users' intervals straight from its
 * staging table, in the insert's own statement; the others through
 * license_intervals_refresh_users). Every other writer (a restore, a seed, psql) is unchanged:
 * the trigger keeps their intervals right.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION license_intervals_refresh() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      t text;
    BEGIN
      IF current_setting('billing.license_intervals_by_writer', true) = 'on' THEN
        RETURN NULL;
      END IF;
      FOR t IN SELECT DISTINCT n.tenant_id FROM new_versions n ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtext('license-intervals:' || t));
      END LOOP;
      PERFORM license_intervals_refresh_users(array_agg(n.tenant_id), array_agg(n.user_id)) FROM new_versions n;
      RETURN NULL;
    END
    $fn$;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE OR REPLACE FUNCTION license_intervals_refresh() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      t text;
    BEGIN
      FOR t IN SELECT DISTINCT n.tenant_id FROM new_versions n ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtext('license-intervals:' || t));
      END LOOP;
      PERFORM license_intervals_refresh_users(array_agg(n.tenant_id), array_agg(n.user_id)) FROM new_versions n;
      RETURN NULL;
    END
    $fn$;
  `.execute(db);
}
