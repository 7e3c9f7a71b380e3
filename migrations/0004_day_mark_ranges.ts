import { type Kysely, sql } from 'kysely';

/*
 * Day marks become ranges. A change of a tenant's input (late activity, a settings version)
 * used to raise one `day_revisions` row per tenant-day it touched, so a version back-dated by
 * ten years wrote ~3,650 rows and one back-dated to year 1 wrote 739,949. Now it writes ONE
 * `day_marks` row (tenant, from_day, to_day, revision): the revision of a day is the highest
 * revision of the marks that cover it (0 when none).
 *
 * `day_mark_clocks` holds one counter per tenant: every transaction that marks takes the next
 * value of its tenants' counters (row lock until commit), so within a tenant a later commit
 * always carries a higher revision — the property the per-day counter gave, so a change that
 * commits while a run is in flight is never missed.
 *
 * Existing per-day rows are kept exactly: runs recorded those revisions. Consecutive days with
 * the same revision become one range; each tenant's counter starts at its highest revision.
 * Frozen in time: never import application code here.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE day_mark_clocks (
      tenant_id  text COLLATE "C" PRIMARY KEY,
      revision   bigint NOT NULL CHECK (revision > 0)
    );

    CREATE TABLE day_marks (
      tenant_id  text COLLATE "C" NOT NULL,
      from_day   date NOT NULL,
      to_day     date NOT NULL,
      revision   bigint NOT NULL CHECK (revision > 0),
      marked_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, from_day, to_day),
      CHECK (from_day <= to_day)
    );
    CREATE INDEX day_marks_tenant_to ON day_marks (tenant_id, to_day);

    INSERT INTO day_mark_clocks (tenant_id, revision)
    SELECT tenant_id, max(revision) FROM day_revisions GROUP BY tenant_id;

    INSERT INTO day_marks (tenant_id, from_day, to_day, revision, marked_at)
    SELECT tenant_id, min(day), max(day), revision, max(changed_at)
    FROM (
      SELECT tenant_id, day, revision, changed_at,
             day - (row_number() OVER (PARTITION BY tenant_id, revision ORDER BY day))::int AS island
      FROM day_revisions
    ) d
    GROUP BY tenant_id, revision, island;

    DROP TABLE day_revisions;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE day_revisions (
      tenant_id   text COLLATE "C" NOT NULL,
      day         date NOT NULL,
      revision    bigint NOT NULL DEFAULT 1,
      changed_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, day)
    );

    INSERT INTO day_revisions (tenant_id, day, revision, changed_at)
    SELECT m.tenant_id, (m.from_day + i)::date, max(m.revision), max(m.marked_at)
    FROM day_marks m CROSS JOIN LATERAL generate_series(0, m.to_day - m.from_day) AS i
    GROUP BY m.tenant_id, (m.from_day + i)::date;

    DROP TABLE day_marks, day_mark_clocks;
  `.execute(db);
}
