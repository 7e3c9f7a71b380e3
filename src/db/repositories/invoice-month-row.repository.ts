import { type RawBuilder, sql } from 'kysely';
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
  /**
   * The added run's lines are already in the rows: the statement that inserted them wrote them
   * too (`monthRowsOfNewLines`, under `claimMonthRowsForRun`). Only the day's run is recorded.
   */
  rowsWritten?: boolean;
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
  await lockMonths(trx, changes);
  for (const round of roundsOfDistinctMonths(changes)) await applyRound(trx, round);
}

function lockMonths(trx: Db, changes: readonly { tenantId: string; day: string }[]): Promise<void> {
  return lockPairsInOrder(
    trx,
    'month-rows',
    'exclusive',
    changes.map((c) => [c.tenantId, c.day.slice(0, 7)] as const),
  );
}

/**
 * The first row of a tenant-month's rows, or NULL: ORDER BY/LIMIT, not EXISTS (EXISTS lets the
 * planner think a sequential scan finds one at once); `tenant` and `month` are SQL expressions.
 */
const firstRowOfMonth = (tenant: RawBuilder<unknown>, month: RawBuilder<unknown>) => sql`
  (SELECT true FROM invoice_month_rows m WHERE m.tenant_id = ${tenant} AND m.month = ${month}
   ORDER BY m.tenant_id, m.month, m.user_id LIMIT 1)`;

/**
 * Before the FIRST run of a tenant-day (no run superseded) inserts its lines: takes the
 * tenant-month's `month-rows` lock (until commit, as `applyRunsToMonthRows` does) and says
 * whether the month has no rows yet, so that the statement inserting the lines can write the
 * month rows too (`monthRowsOfNewLines`) instead of reading them back afterwards. The change is
 * then passed to `applyRunsToMonthRows` with `rowsWritten`.
 */
export async function claimMonthRowsForRun(
  trx: Db,
  c: { tenantId: string; day: string },
): Promise<{ fresh: boolean }> {
  await lockMonths(trx, [c]);
  const { rows } = await sql<{ found: boolean | null }>`
    SELECT ${firstRowOfMonth(sql`${c.tenantId}::text`, sql`${c.day.slice(0, 7)}::text`)} AS found`.execute(
    trx,
  );
  return { fresh: rows[0]?.found == null };
}

/**
 * The data-modifying statement that adds new lines (a run's whole lines, one per (user, item),
 * read from the WITH query named by `lines`: columns user_id, item, billing, unit_price, amount)
 * to the rows of their tenant-month: a plain insert when the month had no rows (`fresh`, found
 * by `claimMonthRowsForRun` under the lock), else the upsert each added line makes in
 * `applyRunsToMonthRows` (n = +1). For a WITH clause of the statement that inserts the lines.
 */
export function monthRowsOfNewLines(
  c: { tenantId: string; day: string; currency: string; fresh: boolean },
  lines: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const insert = sql`
    INSERT INTO invoice_month_rows AS t ${monthRowColumns}
    SELECT ${c.tenantId}::text, ${c.day.slice(0, 7)}::text, l.user_id, l.item, l.billing, l.unit_price,
           ${c.currency}::char(3), 1 << (extract(day FROM ${c.day}::date)::int - 1), 1, l.amount,
           ${c.day}::date, ${c.day}::date
    FROM ${lines} l`;
  return c.fresh ? insert : sql`${insert} ${upsertOfDifference}`;
}

const monthRowColumns = sql`(tenant_id, month, user_id, item, billing, unit_price, currency, days, quantity, amount,
                       first_day, last_day)`;

// Lowest and highest day in a bit set (bit d-1 = day d): positions in its 31-bit text.
const mergedDays = sql`(t.days + EXCLUDED.days)::bit(31)::text`;
const monthStart = sql`(t.month || '-01')::date`;

/** The upsert of one key's difference (EXCLUDED: its days, n = quantity and amount, +/-). */
const upsertOfDifference = sql`
      ON CONFLICT (tenant_id, month, user_id, item, billing, unit_price, currency) DO UPDATE SET
        days = t.days + EXCLUDED.days,
        quantity = t.quantity + EXCLUDED.quantity,
        amount = t.amount + EXCLUDED.amount,
        first_day = CASE WHEN EXCLUDED.quantity > 0 THEN least(t.first_day, EXCLUDED.first_day)
                         WHEN EXCLUDED.quantity < 0 THEN ${monthStart} + (position('1' IN reverse(${mergedDays})) - 1)
                         ELSE t.first_day END,
        last_day = CASE WHEN EXCLUDED.quantity > 0 THEN greatest(t.last_day, EXCLUDED.last_day)
                        WHEN EXCLUDED.quantity < 0 THEN ${monthStart} + (31 - position('1' IN ${mergedDays}))
                        ELSE t.last_day END`;

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

/** The changes as an SQL relation `c(tenant_id, day, added, removed)`. */
function changesRelation(changes: readonly CurrentRunChange[]): RawBuilder<unknown> {
  const tenants = changes.map((c) => c.tenantId);
  const days = changes.map((c) => c.day);
  const added = changes.map((c) => c.addedRunId);
  const removed = changes.map((c) => c.removedRunId);
  return sql`unnest(${tenants}::text[], ${days}::date[], ${added}::bigint[], ${removed}::bigint[])
                   AS c(tenant_id, day, added, removed)`;
}

async function applyRound(trx: Db, all: readonly CurrentRunChange[]): Promise<void> {
  if (all.length === 0) return;
  await sql`
    INSERT INTO invoice_month_days (tenant_id, day, run_id)
    SELECT c.tenant_id, c.day, c.added FROM ${changesRelation(all)}
    ON CONFLICT (tenant_id, day) DO UPDATE SET run_id = EXCLUDED.run_id`.execute(trx);
  const changes = all.filter((c) => !c.rowsWritten);
  if (changes.length === 0) return;
  const runs = changesRelation(changes);
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
  // A superseded run's day: the two runs' lines side by side, by a merge full join of both in
  // the order of their primary key (run_id, user_id, item): a run has one line per (user, item),
  // so a pair holds everything that key did in either run. A pair whose row key is the same in
  // both (same billing, unit price and currency) changes its amount only (n = 0, written only
  // when the amount moved); otherwise the new line adds its row (n = +1) and the old one takes
  // its own out (n = -1). The same difference as grouping both runs' lines by row key, without
  // the grouping (a hash of both runs' lines, spilling at 200,000 lines a run).
  const pairs = sql.raw(`CROSS JOIN LATERAL (
        SELECT a.user_id AS a_user, a.item AS a_item, a.billing AS a_billing, a.unit_price AS a_price, a.amount AS a_amount,
               b.user_id AS b_user, b.item AS b_item, b.billing AS b_billing, b.unit_price AS b_price, b.amount AS b_amount
        FROM (SELECT user_id, item, billing, unit_price, amount FROM charge_lines
              WHERE run_id = c.added ORDER BY user_id, item OFFSET 0) a
        FULL JOIN (SELECT user_id, item, billing, unit_price, amount FROM charge_lines
                   WHERE run_id = c.removed ORDER BY user_id, item OFFSET 0) b
          ON a.user_id = b.user_id AND a.item = b.item) j
      JOIN runs ra ON ra.id = c.added
      JOIN runs rb ON rb.id = c.removed
      CROSS JOIN LATERAL (SELECT j.a_user IS NOT NULL AND j.b_user IS NOT NULL AND j.a_billing = j.b_billing
                                 AND j.a_price = j.b_price AND ra.currency = rb.currency AS same) k
      CROSS JOIN LATERAL (
        SELECT j.a_user, j.a_item, j.a_billing, j.a_price, ra.currency, 0, j.a_amount - j.b_amount
        WHERE k.same AND j.a_amount <> j.b_amount
        UNION ALL
        SELECT j.a_user, j.a_item, j.a_billing, j.a_price, ra.currency, 1, j.a_amount
        WHERE j.a_user IS NOT NULL AND NOT k.same
        UNION ALL
        SELECT j.b_user, j.b_item, j.b_billing, j.b_price, rb.currency, -1, -j.b_amount
        WHERE j.b_user IS NOT NULL AND NOT k.same) x(user_id, item, billing, unit_price, currency, n, amount)`);
  const delta = sql`
    SELECT c.tenant_id, c.day, l.user_id, l.item, l.billing, l.unit_price, r.currency, 1 AS n, l.amount
    FROM c ${linesOf('added')}
    WHERE c.removed IS NULL AND NOT c.fresh
    UNION ALL
    SELECT c.tenant_id, c.day, x.user_id, x.item, x.billing, x.unit_price, x.currency, x.n, x.amount
    FROM c ${pairs}
    WHERE c.removed IS NOT NULL`;
  const columns = monthRowColumns;
  const { rows } = await sql<{ emptied: string }>`
    WITH c AS MATERIALIZED (
      SELECT c.tenant_id, c.day, c.added, c.removed,
             c.removed IS NULL AND ${firstRowOfMonth(sql`c.tenant_id`, sql`to_char(c.day, 'YYYY-MM')`)} IS NULL AS fresh
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
      ${upsertOfDifference}
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
