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

    -- The intervals of one user, computed from all of their versions (gaps and islands).
    CREATE FUNCTION license_intervals_of(p_tenant text, p_user text)
    RETURNS TABLE (iv_from timestamptz, iv_to timestamptz, iv_license text, iv_billing text, iv_record_calls boolean)
    LANGUAGE sql STABLE AS $fn$
      SELECT min(g.effective_at), max(g.next_at), min(g.license), min(g.billing), bool_and(g.record_calls)
      FROM (
        SELECT v.*, count(*) FILTER (WHERE v.opens) OVER (ORDER BY v.effective_at) AS island
        FROM (
          SELECT s.effective_at, s.active, s.license, s.billing, s.record_calls,
                 lead(s.effective_at, 1, 'infinity') OVER w AS next_at,
                 s.active AND NOT coalesce(lag(s.active) OVER w
                   AND (lag(s.license) OVER w, lag(s.billing) OVER w, lag(s.record_calls) OVER w)
                       = (s.license, s.billing, s.record_calls), false) AS opens
          FROM settings_versions s
          WHERE s.tenant_id = p_tenant AND s.user_id = p_user
          WINDOW w AS (ORDER BY s.effective_at)
        ) v
      ) g
      WHERE g.active
      GROUP BY g.island
    $fn$;

    -- Per-user index lookups only (LATERAL ... OFFSET 0, rows by ctid): a batch of new users must
    -- never scan the whole table, whatever the planner guesses of the batch.
    CREATE FUNCTION license_intervals_refresh() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      t text;
    BEGIN
      FOR t IN SELECT DISTINCT n.tenant_id FROM new_versions n ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock(hashtext('license-intervals:' || t));
      END LOOP;
      WITH affected AS (
        SELECT DISTINCT n.tenant_id, n.user_id FROM new_versions n
      ),
      computed AS MATERIALIZED (
        SELECT a.tenant_id, a.user_id, i.*
        FROM affected a CROSS JOIN LATERAL license_intervals_of(a.tenant_id, a.user_id) i
      ),
      removed AS (
        DELETE FROM license_intervals li
        WHERE li.ctid = ANY (ARRAY(
          SELECT x.ctid
          FROM affected a
          CROSS JOIN LATERAL (SELECT y.ctid, y.valid_from FROM license_intervals y
                              WHERE y.tenant_id = a.tenant_id AND y.user_id = a.user_id OFFSET 0) x
          WHERE NOT EXISTS (SELECT 1 FROM computed c
                            WHERE c.tenant_id = a.tenant_id AND c.user_id = a.user_id AND c.iv_from = x.valid_from)
        ))
      )
      INSERT INTO license_intervals AS li (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)
      SELECT * FROM computed
      ON CONFLICT (tenant_id, user_id, valid_from) DO UPDATE
        SET valid_to = excluded.valid_to, license = excluded.license, billing = excluded.billing,
            record_calls = excluded.record_calls
        WHERE (li.valid_to, li.license, li.billing, li.record_calls)
              IS DISTINCT FROM (excluded.valid_to, excluded.license, excluded.billing, excluded.record_calls);
      RETURN NULL;
    END
    $fn$;

    CREATE TRIGGER settings_versions_license_intervals
      AFTER INSERT ON settings_versions
      REFERENCING NEW TABLE AS new_versions
      FOR EACH STATEMENT EXECUTE FUNCTION license_intervals_refresh();

    -- Backfill: every user that has versions.
    INSERT INTO license_intervals (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)
    SELECT u.tenant_id, u.user_id, i.*
    FROM (SELECT DISTINCT tenant_id, user_id FROM settings_versions) u
    CROSS JOIN LATERAL license_intervals_of(u.tenant_id, u.user_id) i;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER settings_versions_license_intervals ON settings_versions;
    DROP FUNCTION license_intervals_refresh();
    DROP FUNCTION license_intervals_of(text, text);
    DROP TABLE license_intervals;
  `.execute(db);
}
