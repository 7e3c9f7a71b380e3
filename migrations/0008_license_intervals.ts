import { type Kysely, sql } from 'kysely';

/*
 * License intervals: what a day's snapshot reads instead of a window over every settings version
 * a tenant ever had. Frozen in time: never import application code here.
 *
 * One row per stretch of time in which a user holds one active state: [valid_from, valid_to)
 * with the license, the effective billing mode and the record-calls flag of the versions in
 * force then (valid_to 'infinity' while no later version exists). Consecutive active versions
 * with the same (license, billing, record_calls) are one interval; inactive versions hold no
 * license and leave a gap. The day snapshot of docs/billing.md over these rows equals the one
 * over the versions: a version that changes nothing billable only makes an interval longer.
 *
 * Kept equal to the versions by the database itself: an AFTER INSERT statement trigger
 * recomputes the intervals of every user the statement gave a version (whatever wrote it: the
 * importer, the API, a restore or a test seed), and writes only the rows that differ. Settings
 * writers of one tenant are serialised by an advisory lock taken first, so two transactions that
 * give the same user a version never compute from each other's half. Versions are never updated
 * or deleted, so inserts are the only event to follow.
 *
 * Indexes: the key (tenant_id, user_id, valid_from) for the recompute; (tenant_id, valid_to,
 * user_id) INCLUDE the state, for the day: the intervals that reach past a day's end are one range
 * of it (the open ones last, in user order), read index-only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE license_intervals (
      tenant_id    text COLLATE "C" NOT NULL,
      user_id      text COLLATE "C" NOT NULL,
      valid_from   timestamptz NOT NULL,
      valid_to     timestamptz NOT NULL,
      license      text NOT NULL,
      billing      text NOT NULL,
      record_calls boolean NOT NULL,
      PRIMARY KEY (tenant_id, user_id, valid_from),
      CHECK (valid_from < valid_to)
    );
    CREATE INDEX license_intervals_tenant_to ON license_intervals (tenant_id, valid_to, user_id)
      INCLUDE (valid_from, license, billing, record_calls);

    -- The intervals of the users of the given NEW versions (one array entry per new version),
    -- recomputed from all of their versions (gaps and islands), and only the rows that differ
    -- written. A user whose every version is new (the common case of an import) has no intervals
    -- yet: a plain insert. Others: stale rows deleted, new or changed ones upserted. Versions are
    -- read per user (LATERAL ... OFFSET 0) and intervals deleted by ctid, so a batch of users never
    -- scans the whole table, whatever the planner guesses of the batch.
    CREATE FUNCTION license_intervals_refresh_users(p_tenants text[], p_users text[]) RETURNS void
    LANGUAGE sql AS $fn$
      WITH affected AS (
        SELECT u.tenant_id, u.user_id, count(*) AS new_versions
        FROM unnest(p_tenants, p_users) AS u(tenant_id, user_id)
        GROUP BY u.tenant_id, u.user_id
      ),
      v AS (
        SELECT x.*, a.new_versions FROM affected a
        CROSS JOIN LATERAL (SELECT s.tenant_id, s.user_id, s.effective_at, s.active, s.license, s.billing, s.record_calls
                            FROM settings_versions s
                            WHERE s.tenant_id = a.tenant_id AND s.user_id = a.user_id OFFSET 0) x
      ),
      marked AS (
        SELECT v.*, lead(v.effective_at, 1, 'infinity') OVER w AS next_at,
               v.active AND NOT coalesce(lag(v.active) OVER w
                 AND (lag(v.license) OVER w, lag(v.billing) OVER w, lag(v.record_calls) OVER w)
                     = (v.license, v.billing, v.record_calls), false) AS opens,
               count(*) OVER (PARTITION BY v.tenant_id, v.user_id) = v.new_versions AS all_new
        FROM v
        WINDOW w AS (PARTITION BY v.tenant_id, v.user_id ORDER BY v.effective_at)
      ),
      islands AS (
        SELECT m.*, count(*) FILTER (WHERE m.opens)
                      OVER (PARTITION BY m.tenant_id, m.user_id ORDER BY m.effective_at) AS island
        FROM marked m
      ),
      computed AS MATERIALIZED (
        SELECT tenant_id, user_id, min(effective_at) AS valid_from, max(next_at) AS valid_to,
               min(license) AS license, min(billing) AS billing, bool_and(record_calls) AS record_calls,
               bool_and(all_new) AS all_new
        FROM islands WHERE active
        GROUP BY tenant_id, user_id, island
      ),
      known AS (
        SELECT DISTINCT m.tenant_id, m.user_id FROM marked m WHERE NOT m.all_new
      ),
      removed AS (
        DELETE FROM license_intervals li
        WHERE li.ctid = ANY (ARRAY(
          SELECT x.ctid
          FROM known k
          CROSS JOIN LATERAL (SELECT y.ctid, y.valid_from FROM license_intervals y
                              WHERE y.tenant_id = k.tenant_id AND y.user_id = k.user_id OFFSET 0) x
          WHERE NOT EXISTS (SELECT 1 FROM computed c
                            WHERE c.tenant_id = k.tenant_id AND c.user_id = k.user_id AND c.valid_from = x.valid_from)
        ))
      ),
      fresh AS (
        INSERT INTO license_intervals (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)
        SELECT tenant_id, user_id, valid_from, valid_to, license, billing, record_calls FROM computed WHERE all_new
      )
      INSERT INTO license_intervals AS li (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)
      SELECT tenant_id, user_id, valid_from, valid_to, license, billing, record_calls FROM computed WHERE NOT all_new
      ON CONFLICT (tenant_id, user_id, valid_from) DO UPDATE
        SET valid_to = excluded.valid_to, license = excluded.license, billing = excluded.billing,
            record_calls = excluded.record_calls
        WHERE (li.valid_to, li.license, li.billing, li.record_calls)
              IS DISTINCT FROM (excluded.valid_to, excluded.license, excluded.billing, excluded.record_calls)
    $fn$;

    -- The statement's new versions: their users' intervals, after the tenants' settings writers
    -- are serialised (in code-point order, so two batches never deadlock).
    CREATE FUNCTION license_intervals_refresh() RETURNS trigger LANGUAGE plpgsql AS $fn$
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

    CREATE TRIGGER settings_versions_license_intervals
      AFTER INSERT ON settings_versions
      REFERENCING NEW TABLE AS new_versions
      FOR EACH STATEMENT EXECUTE FUNCTION license_intervals_refresh();

    -- Backfill: every version is new to the (empty) table.
    SELECT license_intervals_refresh_users(array_agg(tenant_id), array_agg(user_id)) FROM settings_versions;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER settings_versions_license_intervals ON settings_versions;
    DROP FUNCTION license_intervals_refresh();
    DROP FUNCTION license_intervals_refresh_users(text[], text[]);
    DROP TABLE license_intervals;
  `.execute(db);
}
