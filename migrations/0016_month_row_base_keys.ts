import { type Kysely, sql } from 'kysely';

/*
 * Which exceptions of a month name a key of its base run (issue 11, billing a later day). Frozen
 * in time: never import application code here.
 *
 * A later day compares its lines with the base's (migration 0015). Every exception of the month
 * then needs to know whether the day has a line of its key: until now a probe of the day's lines
 * per exception (120,000 probes a day for a 1,000,000-user tenant whose daily users come and go).
 * The comparison already names every key where the day differs from the base; for any other
 * key the day has a line exactly when the base has one. So an exception records that once, when
 * it is written (`in_base`: the base run has a line of its key, in the base's currency), and a
 * later day reads it instead of probing. A month's base never changes while it has rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE invoice_month_rows ADD COLUMN in_base boolean NOT NULL DEFAULT false;
    UPDATE invoice_month_rows m SET in_base = true
    FROM invoice_month_bases b
    JOIN runs r ON r.id = b.run_id
    WHERE b.tenant_id = m.tenant_id AND b.month = m.month AND r.currency = m.currency
      AND EXISTS (SELECT 1 FROM charge_lines l
                  WHERE l.run_id = b.run_id AND l.user_id = m.user_id AND l.item = m.item
                    AND l.billing = m.billing AND l.unit_price = m.unit_price)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE invoice_month_rows DROP COLUMN in_base`.execute(db);
}
