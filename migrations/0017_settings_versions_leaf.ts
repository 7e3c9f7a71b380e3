import { type Kysely, sql } from 'kysely';

/*
 * The settings repository's versions skip the license-interval trigger entirely (issue 10).
 * Frozen in time: never import application code here.
 *
 * The trigger of 0008/0009 is a statement trigger with a transition table (`new_versions`), so
 * PostgreSQL copies every inserted row into a tuplestore for it, even when its WHEN then skips
 * the statement (the settings repository writes the intervals itself and set the flag of 0009):
 * nothing in PostgreSQL 15 skips that capture for one writer. At an import of 1,000,000 new users
 * it cost the server 3.3-4.3 of its 16-17.6 µs a version (measured with the trigger dropped).
 *
 * So `settings_versions` becomes a table partitioned by tenant with ONE partition,
 * `settings_versions_all` (DEFAULT, hence no partition constraint to check), which holds every
 * row; the trigger stays on the partitioned table. A statement fires the statement triggers of
 * the table it names only: an INSERT or COPY into `settings_versions` (a restore, a seed, psql,
 * a bench) is routed to the partition and the trigger recomputes its users' intervals as before;
 * the settings repository inserts into `settings_versions_all` directly (after taking the
 * tenants' advisory locks, as before) and no capture is made; the flag of 0009 has no writer left
 * and the trigger loses its WHEN. Readers keep reading `settings_versions`: with one partition
 * the planner reads the partition's own indexes, the same plans once the partition has
 * statistics (before, in a new database, it guessed differently for the import's probe, which is
 * now planned without bitmap scans). Anyone else writing the partition directly must maintain
 * the intervals as the repository does.
 *
 * Nothing is copied: the table and its indexes are renamed and attached as they are (the
 * partitioned table's primary key and index adopt the partition's matching ones).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER settings_versions_license_intervals ON settings_versions;
    ALTER TABLE settings_versions RENAME TO settings_versions_all;
    ALTER INDEX settings_versions_pkey RENAME TO settings_versions_all_pkey;
    ALTER INDEX settings_versions_tenant_effective RENAME TO settings_versions_all_tenant_effective;
    CREATE TABLE settings_versions (LIKE settings_versions_all INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
      PARTITION BY LIST (tenant_id);
    ALTER TABLE settings_versions ATTACH PARTITION settings_versions_all DEFAULT;
    ALTER TABLE settings_versions ADD CONSTRAINT settings_versions_pkey PRIMARY KEY (tenant_id, user_id, effective_at);
    CREATE INDEX settings_versions_tenant_effective ON settings_versions (tenant_id, effective_at);
    CREATE TRIGGER settings_versions_license_intervals
      AFTER INSERT ON settings_versions
      REFERENCING NEW TABLE AS new_versions
      FOR EACH STATEMENT EXECUTE FUNCTION license_intervals_refresh();
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE settings_versions DETACH PARTITION settings_versions_all;
    DROP TABLE settings_versions;
    ALTER TABLE settings_versions_all RENAME TO settings_versions;
    ALTER INDEX settings_versions_all_pkey RENAME TO settings_versions_pkey;
    ALTER INDEX settings_versions_all_tenant_effective RENAME TO settings_versions_tenant_effective;
    CREATE TRIGGER settings_versions_license_intervals
      AFTER INSERT ON settings_versions
      REFERENCING NEW TABLE AS new_versions
      FOR EACH STATEMENT
      WHEN (current_setting('billing.license_intervals_by_writer', true) IS DISTINCT FROM 'on')
      EXECUTE FUNCTION license_intervals_refresh();
  `.execute(db);
}
