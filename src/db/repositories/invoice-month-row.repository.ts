import { sql } from 'kysely';
import type { Db } from '../database.ts';
import { lockPairsInOrder } from './advisory-locks.ts';

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
 * currency) when, for each change, `addedRunId` becomes the current run of its day instead of
 * `removedRunId`. Call it in the runs' own transaction, once all their lines are stored.
 *
 * One upsert of the difference for all the changes: each line of a new run adds its day (bit
 * d-1 of `days`), 1 to `quantity` and its amount; each line of a superseded run takes them out
 * again. A line that only changed its amount touches `amount` alone, and a line that did not
 * change is not written at all (a replay of an unchanged day writes nothing here). First and
 * last day follow the bits. Rows left with no day are deleted in a second statement (only when
 * there are any). `invoice_month_days` records the run the rows now hold for each day (what the
 * export checks). The first run of a month that has no rows yet inserts its lines as rows
 * without the upsert (half its cost). Each tenant-month is written by one transaction at a time
 * (advisory lock `month-rows`, taken for all the changes' months at once, in order, until
 * commit), which is what makes "no rows yet" hold until the insert; rows are written in
 * (tenant, user, item) order, the order of the month rows' key. Kept equal to the grouping by
 * test/integration/invoice-month-rows.test.ts (alone, and two days of a month at once) and
 * bill-days.test.ts (in batches).
 *
 * One upsert cannot touch a row twice, so changes of the same tenant-month (two days of one
 * tenant in one batch) go in successive rounds; a night's batch of many tenants is one round.
 */
export async function applyRunsToMonthRows(trx: Db, changes: readonly CurrentRunChange[]): Promise<void> {
  if (changes.length === 0) return;
  // One writer of a tenant-month's rows at a time, until commit. Its own statement: the upserts
  // below then see every row a writer before them committed, so a month found empty stays
  // empty until its rows are inserted (no other run can insert the same keys meanwhile).
  await lockPairsInOrder(
    trx,
    'month-rows',
    'exclusive',
    changes.map((c) => [c.tenantId, c.day.slice(0, 7)] as const),
  );
  for (const round of roundsOfDistinctMonths(changes)) await applyRound(trx, round);
}

/** `applyRunsToMonthRows` for one run. */
export async function applyRunToMonthRows(trx: Db, c: CurrentRunChange): Promise<void> {
  await applyRunsToMonthRows(trx, [c]);
}

/** The changes split, in order, into groups in which no (tenant, month) appears twice. */
function roundsOfDistinctMonths(changes: readonly CurrentRunChange[]): CurrentRunChange[][] {
  const rounds: { months: Set<string>; changes: CurrentRunChange[] }[] = [];
  for (const c of changes) {
    const key = `${c.tenantId}\u0000${c.day.slice(0, 7)}`;
    let round = rounds.find((r) => !r.months.has(key));
    if (round === undefined) {
      round = { months: new Set(), changes: [] };
      rounds.push(round);
    }
    round.months.add(key);
    round.changes.push(c);
  }
  return rounds.map((r) => r.changes);
}

async function applyRound(trx: Db, changes: readonly CurrentRunChange[]): Promise<void> {
  if (changes.length === 0) return;
  const tenants = changes.map((c) => c.tenantId);
  const days = changes.map((c) => c.day);
  const added = changes.map((c) => c.addedRunId);
  const removed = changes.map((c) => c.removedRunId);
  const runs = sql`unnest(${tenants}::text[], ${days}::date[], ${added}::bigint[], ${removed}::bigint[])
                   AS c(tenant_id, day, added, removed)`;
  await sql`
    INSERT INTO invoice_month_days (tenant_id, day, run_id)
    SELECT c.tenant_id, c.day, c.added FROM ${runs}
    ON CONFLICT (tenant_id, day) DO UPDATE SET run_id = EXCLUDED.run_id`.execute(trx);
  // `fresh`: the first run of a month that has no rows yet (the month's first billed day): its
  // lines are the rows, inserted as they are (a plain insert costs half an upsert: no arbiter
  // probe, no speculative insertion). Every other change goes through the upsert of the
  // difference (one row per key: n = +1 added, -1 taken out, 0 amount changed only). A day's
  // first run needs no grouping: a run has one line per (user, item), so its lines are the keys.
  // A run's lines by its primary key (run_id, user_id, item), once per change: a lateral
  // subquery kept apart (OFFSET 0) so that the plan cannot become a join over every run's lines.
  const linesOf = (run: 'added' | 'removed') =>
    sql.raw(`CROSS JOIN LATERAL (SELECT user_id, item, billing, unit_price, amount FROM charge_lines
                                 WHERE run_id = c.${run} ORDER BY user_id, item OFFSET 0) l
      JOIN runs r ON r.id = c.${run}`);
  const delta = sql`
    SELECT c.tenant_id, c.day, l.user_id, l.item, l.billing, l.unit_price, r.currency, 1 AS n, l.amount
    FROM c ${linesOf('added')}
    WHERE c.removed IS NULL AND NOT c.fresh
    UNION ALL
    SELECT tenant_id, day, user_id, item, billing, unit_price, currency, sum(n)::int, sum(amount)
    FROM (SELECT c.tenant_id, c.day, l.user_id, l.item, l.billing, l.unit_price, r.currency, 1 AS n, l.amount
          FROM c ${linesOf('added')}
          WHERE c.removed IS NOT NULL
          UNION ALL
          SELECT c.tenant_id, c.day, l.user_id, l.item, l.billing, l.unit_price, r.currency, -1, -l.amount
          FROM c ${linesOf('removed')}) x
    GROUP BY tenant_id, day, user_id, item, billing, unit_price, currency
    HAVING sum(n) <> 0 OR sum(amount) <> 0`;
  const monthStart = sql`(t.month || '-01')::date`;
  // Lowest and highest day in a bit set (bit d-1 = day d): positions in its 31-bit text.
  const mask = sql`(t.days + EXCLUDED.days)::bit(31)::text`;
  const columns = sql`(tenant_id, month, user_id, item, billing, unit_price, currency, days, quantity, amount,
                       first_day, last_day)`;
  const { rows } = await sql<{ emptied: string }>`
    WITH c AS MATERIALIZED (
      SELECT c.tenant_id, c.day, c.added, c.removed,
             -- ORDER BY/LIMIT, not EXISTS: the first row of the month by the primary key's
             -- order (EXISTS lets the planner think a sequential scan finds one at once).
             c.removed IS NULL AND (SELECT true FROM invoice_month_rows m
                                    WHERE m.tenant_id = c.tenant_id AND m.month = to_char(c.day, 'YYYY-MM')
                                    ORDER BY m.tenant_id, m.month, m.user_id LIMIT 1) IS NULL AS fresh
      FROM ${runs}
    ),
    fresh AS (
      INSERT INTO invoice_month_rows ${columns}
      SELECT c.tenant_id, to_char(c.day, 'YYYY-MM'), l.user_id, l.item, l.billing, l.unit_price, r.currency,
             1 << (extract(day FROM c.day)::int - 1), 1, l.amount, c.day, c.day
      FROM c ${linesOf('added')}
      WHERE c.fresh
      ORDER BY c.tenant_id, l.user_id, l.item
    ),
    up AS (
      INSERT INTO invoice_month_rows AS t ${columns}
      SELECT d.tenant_id, to_char(d.day, 'YYYY-MM'), d.user_id, d.item, d.billing, d.unit_price, d.currency,
             (1 << (extract(day FROM d.day)::int - 1)) * d.n, d.n, d.amount, d.day, d.day
      FROM (${delta}) d
      ORDER BY d.tenant_id, d.user_id, d.item
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
  if (Number(rows[0]?.emptied ?? 0) === 0) return;
  // Only keys of a superseded run can have lost their last day.
  await sql`
    DELETE FROM invoice_month_rows t
    USING ${runs} JOIN charge_lines l ON l.run_id = c.removed
    WHERE t.tenant_id = c.tenant_id AND t.month = to_char(c.day, 'YYYY-MM')
      AND t.user_id = l.user_id AND t.item = l.item AND t.quantity = 0`.execute(trx);
}
