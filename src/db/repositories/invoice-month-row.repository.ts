import { sql } from 'kysely';
import type { Db } from '../database.ts';

/** A charge run that became the current run of its day, and the run it superseded (if any). */
export interface CurrentRunChange {
  tenantId: string;
  /** `YYYY-MM-DD`, the runs' day. */
  day: string;
  /** The run that is now current: its lines are added. */
  addedRunId: string;
  /** The run it superseded: its lines are taken out; null on the day's first run. */
  removedRunId: string | null;
}

/**
 * Rule "invoice charge rows" (docs/export.md): keeps `invoice_month_rows` (migration 0010) equal
 * to the grouping of the month's current charge lines by (user, item, billing, unit price,
 * currency) when `c.addedRunId` becomes the current run of `c.day` instead of
 * `c.removedRunId`. Call it in the run's own transaction, once both runs' lines are stored.
 *
 * One upsert of the difference: each line of the new run adds its day (bit d-1 of `days`), 1 to
 * `quantity` and its amount; each line of the superseded run takes them out again. A line that
 * only changed its amount touches `amount` alone, and a line that did not change is not written
 * at all (a replay of an unchanged day writes nothing here). First and last day follow the
 * bits. Rows left with no day are deleted in a second statement (only when there are any).
 * `invoice_month_days` records the run the rows now hold for the day (what the export checks).
 * Rows are locked in (user, item) order, the order in which any other run of the same month
 * would lock them. Kept equal to the grouping by test/integration/invoice-month-rows.test.ts.
 */
export async function applyRunToMonthRows(trx: Db, c: CurrentRunChange): Promise<void> {
  const month = c.day.slice(0, 7);
  const bit = 2 ** (Number(c.day.slice(8, 10)) - 1);
  // The difference (one row per key: n = +1 added, -1 taken out, 0 amount changed only).
  const delta =
    c.removedRunId === null
      ? // The day's first run: a run has one line per (user, item), so its lines are the keys.
        sql`SELECT l.user_id, l.item, l.billing, l.unit_price, r.currency, 1 AS n, l.amount
            FROM charge_lines l JOIN runs r ON r.id = l.run_id
            WHERE l.run_id = ${c.addedRunId}::bigint`
      : sql`SELECT user_id, item, billing, unit_price, currency, sum(n)::int AS n, sum(amount) AS amount
            FROM (SELECT l.user_id, l.item, l.billing, l.unit_price, r.currency, 1 AS n, l.amount
                  FROM charge_lines l JOIN runs r ON r.id = l.run_id WHERE l.run_id = ${c.addedRunId}::bigint
                  UNION ALL
                  SELECT l.user_id, l.item, l.billing, l.unit_price, r.currency, -1, -l.amount
                  FROM charge_lines l JOIN runs r ON r.id = l.run_id WHERE l.run_id = ${c.removedRunId}::bigint) x
            GROUP BY user_id, item, billing, unit_price, currency
            HAVING sum(n) <> 0 OR sum(amount) <> 0`;
  const monthStart = sql`${`${month}-01`}::date`;
  // Lowest and highest day in a bit set (bit d-1 = day d): positions in its 31-bit text.
  const mask = sql`(t.days + EXCLUDED.days)::bit(31)::text`;
  await sql`
    INSERT INTO invoice_month_days (tenant_id, day, run_id) VALUES (${c.tenantId}::text, ${c.day}::date, ${c.addedRunId}::bigint)
    ON CONFLICT (tenant_id, day) DO UPDATE SET run_id = EXCLUDED.run_id`.execute(trx);
  const { rows } = await sql<{ emptied: string }>`
    WITH up AS (
      INSERT INTO invoice_month_rows AS t (tenant_id, month, user_id, item, billing, unit_price, currency,
                                           days, quantity, amount, first_day, last_day)
      SELECT ${c.tenantId}::text, ${month}::text, d.user_id, d.item, d.billing, d.unit_price, d.currency,
             ${bit}::int * d.n, d.n, d.amount, ${c.day}::date, ${c.day}::date
      FROM (${delta}) d
      ORDER BY d.user_id, d.item
      ON CONFLICT (tenant_id, month, user_id, item, billing, unit_price, currency) DO UPDATE SET
        days = t.days + EXCLUDED.days,
        quantity = t.quantity + EXCLUDED.quantity,
        amount = t.amount + EXCLUDED.amount,
        first_day = CASE WHEN EXCLUDED.quantity > 0 THEN least(t.first_day, EXCLUDED.first_day)
                         WHEN EXCLUDED.quantity < 0 THEN ${monthStart} + (position('1' IN reverse(${mask})) - 1)
                         ELSE t.first_day END,
        last_day = CASE WHEN EXCLUDED.quantity > 0 THEN greatest(t.last_day, EXCLUDED.last_day)
                        WHEN EXCLUDED.quantity < 0 THEN ${monthStart} + (31 - position('1' IN ${mask}))
                        ELSE t.last_day END
      RETURNING t.quantity
    )
    SELECT count(*) FILTER (WHERE quantity = 0)::text AS emptied FROM up`.execute(trx);
  if (c.removedRunId === null || Number(rows[0]?.emptied ?? 0) === 0) return;
  // Only keys of the superseded run can have lost their last day.
  await sql`
    DELETE FROM invoice_month_rows t
    USING charge_lines l
    WHERE l.run_id = ${c.removedRunId}::bigint AND t.tenant_id = ${c.tenantId}::text AND t.month = ${month}::text
      AND t.user_id = l.user_id AND t.item = l.item AND t.quantity = 0`.execute(trx);
}
