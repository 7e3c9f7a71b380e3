import { type Kysely, sql } from 'kysely';

/*
 * Console reads that do not grow with the tenant (issue 13). Frozen in time: never import
 * application code here.
 *
 * ingest_rejects.day: the tenant-local day a kept reject is attributed to (the day, in the
 * tenant's zone, of the first ISO instant with a zone in the first 2,000 characters of the stored
 * payload), written with the reject; NULL when it has none (no tenant, no readable instant, a day
 * outside years 0001-9999). Reconcile counts open rejects per (tenant, day) from the partial index
 * below instead of reading and attributing every open reject of the tenant on each request.
 *
 * Backfill: the same rule in SQL for the rows already kept (the application writes the day itself
 * from then on). It follows what JavaScript's Date.parse accepts for the matched text: month
 * 01-12, day 01-31 (a day past the month's end rolls over, as 2026-02-30 is March 2), hour 00-24
 * (24 only as 24:00:00.000), minute and second 00-59, fraction cut to milliseconds, offset hour
 * 00-23 and minute 00-59; the tenant-local day is the latest local date the zone's clock has shown
 * up to that instant (a day starts when its date first appears, even where a clock falls back
 * across midnight), looked up minute by minute over the three hours before the instant only where
 * the zone's offset changed in them.
 *
 * adjustment_lines (tenant_id, user_id, day): the explain view of one user reads that user's
 * adjustment lines (of a period, or correcting a day) instead of every user's of the period or day.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE ingest_rejects ADD COLUMN day date;

    CREATE FUNCTION pg_temp.reject_local_day(t timestamptz, zone text) RETURNS date
    LANGUAGE sql IMMUTABLE AS $fn$
      SELECT CASE
        WHEN (t AT TIME ZONE zone) - (t AT TIME ZONE 'UTC')
           = ((t - interval '3 hours') AT TIME ZONE zone) - ((t - interval '3 hours') AT TIME ZONE 'UTC')
        THEN (t AT TIME ZONE zone)::date
        ELSE (SELECT max(((t - k * interval '1 minute') AT TIME ZONE zone)::date)
              FROM generate_series(0, 180) k)
      END
    $fn$;

    CREATE FUNCTION pg_temp.reject_instant(raw text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE AS $fn$
      SELECT CASE
        WHEN m IS NULL THEN NULL
        WHEN m[2]::int NOT BETWEEN 1 AND 12 OR m[3]::int NOT BETWEEN 1 AND 31 THEN NULL
        WHEN m[4]::int > 24 OR m[5]::int > 59 OR coalesce(m[6], '0')::int > 59 THEN NULL
        WHEN m[4]::int = 24 AND (m[5]::int <> 0 OR coalesce(m[6], '0')::int <> 0
                                 OR rtrim(coalesce(m[7], ''), '0') <> '') THEN NULL
        WHEN m[8] <> 'Z' AND (m[10]::int > 23 OR m[11]::int > 59) THEN NULL
        ELSE (timestamp '2000-01-01'
              + make_interval(months => (m[1]::int - 2000) * 12 + m[2]::int - 1,
                              days => m[3]::int - 1, hours => m[4]::int, mins => m[5]::int,
                              secs => coalesce(m[6], '0')::int
                                      + left(rpad(coalesce(m[7], ''), 3, '0'), 3)::int / 1000.0)
              - CASE WHEN m[8] = 'Z' THEN interval '0'
                     ELSE (CASE m[9] WHEN '-' THEN -1 ELSE 1 END)
                          * make_interval(hours => m[10]::int, mins => m[11]::int) END
             ) AT TIME ZONE 'UTC'
      END
      FROM (SELECT regexp_match(substring(raw for 2000),
        '([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\\.([0-9]+))?)?(Z|([+-])([0-9]{2}):?([0-9]{2}))'
      ) AS m) x
    $fn$;

    UPDATE ingest_rejects r SET day = a.day
    FROM (
      SELECT r2.id, pg_temp.reject_local_day(pg_temp.reject_instant(r2.raw), t.timezone) AS day
      FROM ingest_rejects r2 JOIN tenants t ON t.id = r2.tenant_id
      WHERE r2.raw_encoding = 'utf8' AND r2.raw ~ '[0-9]{4}-[0-9]{2}-[0-9]{2}T'
    ) a
    WHERE r.id = a.id AND a.day BETWEEN date '0001-01-01' AND date '9999-12-31';

    CREATE INDEX ingest_rejects_open_day ON ingest_rejects (tenant_id, day)
      WHERE resolved_at IS NULL AND day IS NOT NULL;
    CREATE INDEX ingest_rejects_open_unattributed ON ingest_rejects (tenant_id, received_at)
      WHERE resolved_at IS NULL AND day IS NULL;
    CREATE INDEX adjustment_lines_tenant_user ON adjustment_lines (tenant_id, user_id, day);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX adjustment_lines_tenant_user;
    DROP INDEX ingest_rejects_open_unattributed;
    DROP INDEX ingest_rejects_open_day;
    ALTER TABLE ingest_rejects DROP COLUMN day;
  `.execute(db);
}
