import { type Kysely, sql } from 'kysely';

/*
 * Aggregates for the console and reconcile (issue 13: every page well under a second for a
 * tenant of 1M users). Frozen in time: never import application code here.
 *
 * day_activity_counts: per tenant-day, the number of users with activity (`daily_activity`
 * rows) as counted at day revision `revision`. Billing writes it in the transaction of every
 * run, right after reading the day's revision (a run reads the day's activity anyway). A count
 * is true as long as the day's revision has not risen above `revision`: every write of
 * activity marks its day in the same transaction with a higher revision, and a mark is pruned
 * only once a run (which writes a new count) has read it. Readers use the count when
 * `revision >= the day's revision` and count `daily_activity` otherwise.
 *
 * Backfill: a count at the current revision for every tenant-day that has a run, and
 * `console_run_totals` (0006) for every charge run with lines that has none yet (one pass over
 * the lines of those runs).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE day_activity_counts (
      tenant_id     text COLLATE "C" NOT NULL,
      day           date NOT NULL,
      revision      bigint NOT NULL CHECK (revision >= 0),
      active_users  integer NOT NULL CHECK (active_users >= 0),
      counted_at    timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, day)
    );

    INSERT INTO day_activity_counts (tenant_id, day, revision, active_users)
    SELECT d.tenant_id, d.day,
           coalesce((SELECT max(m.revision) FROM day_marks m
                     WHERE m.tenant_id = d.tenant_id AND m.from_day <= d.day AND m.to_day >= d.day), 0),
           (SELECT count(*) FROM daily_activity a WHERE a.tenant_id = d.tenant_id AND a.day = d.day)
    FROM (SELECT DISTINCT tenant_id, day FROM runs) d;

    INSERT INTO console_run_totals (run_id, item, billing, lines, amount)
    SELECT l.run_id, l.item, l.billing, count(*), sum(l.amount)
    FROM charge_lines l
    JOIN runs r ON r.id = l.run_id
    WHERE r.kind = 'charge' AND r.line_count > 0
      AND NOT EXISTS (SELECT 1 FROM console_run_totals t WHERE t.run_id = r.id)
    GROUP BY l.run_id, l.item, l.billing;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE day_activity_counts`.execute(db);
}
