import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../database.ts';
import { inTransaction } from '../transaction.ts';
import { lockPairsInOrder } from './advisory-locks.ts';
import {
  amountOfDaysSql,
  firstDayOfSql,
  lastDayOfSql,
  lineAmountSql,
  recordedDaysSql,
} from './month-days.ts';

/** A charge run that became the current run of its day, and the run it superseded (if any). */
export interface CurrentRunChange {
  tenantId: string;
  /** `YYYY-MM-DD`, the runs' day. */
  day: string;
  /** The run that is now current: its lines are added. */
  addedRunId: string;
  /** The run it superseded, whose lines the month's rows held for the day; null on the day's first run. */
  removedRunId: string | null;
  /**
   * Its lines were computed by billing's day query, so every amount follows the pricing rule
   * (`lineAmountSql`) and a new base need not be searched for lines off it. Runs made any other
   * way (by hand, by tools) leave it out.
   */
  ruled?: boolean;
}

/**
 * Rule "invoice charge rows" (docs/export.md): keeps a tenant-month's rows (the grouping of its
 * current charge lines by user, item, billing, unit price and currency) when, for each change,
 * `addedRunId` becomes the current run of its day instead of `removedRunId`. Call it in the runs'
 * own transaction, once all their lines are stored.
 *
 * The rows are kept as a BASE and EXCEPTIONS (migration 0015): the month's first recorded run is
 * its base (`invoice_month_bases`), and each line of the base stands for a row holding every day
 * the month records (`invoice_month_days`: the days, with the run the rows hold for each); the
 * keys whose days are not exactly those are rows of `invoice_month_rows` (days as bits, quantity,
 * amount, first and last day), which also hide the base's keys they name (a row of quantity 0
 * hides a key that has no day left). A line's amount follows from its key and its day (the
 * proration formula, or the daily price), so no day's amounts are stored twice.
 *
 * So a change writes only where the added run's lines differ from the base's: a key of the base
 * that the day lacks gets an exception (every recorded day but this one), a key the base lacks
 * gets one (this day), and every exception gets this day's bit set or cleared. A month's first
 * run writes no row at all, and a day whose lines are the base's writes none: the day's lines
 * are read against the base's, both in primary-key order (a merge join, no sort). The removed
 * run's lines are read only where an exception loses the day (a probe of its primary key for
 * the amount the day held); base keys hold the rule's amount for every day.
 *
 * A line off the rule (an amount the day query would not give: a run made by hand) never stands
 * for other days: it becomes an exception with its own amount, and so do such lines of a new
 * base unless the caller says its run was billed by the day query (`ruled`).
 *
 * Months recorded before migration 0015 have no base: every key is an exception there, and the
 * same statement keeps them (every line of the day sets its row's bit). Kept equal to the
 * grouping of the current lines by test/integration/invoice-month-rows.test.ts (any sequence of
 * runs, replays, late data and closes; two days of a month at once) and bill-days.test.ts.
 *
 * Each tenant-month is written by one transaction at a time (advisory lock `month-rows`, taken
 * for all the changes' months at once, in order, until commit): a month found without a base
 * stays so until its first run records it. Changes of the same tenant-month (two days of one
 * tenant in one batch) go in successive rounds; a night's batch of many tenants is one round.
 */
export async function applyRunsToMonthRows(db: Db, changes: readonly CurrentRunChange[]): Promise<void> {
  if (changes.length === 0) return;
  await inTransaction(db, async (trx) => {
    // The statement below is one large expression run once: JIT would compile it for seconds
    // (billing's own transactions already run without it: `tuneForDayRun`).
    await sql`SET LOCAL jit = off`.execute(trx);
    // One writer of a tenant-month's rows at a time, until commit. Its own statement: the
    // statements below then see everything a writer before them committed.
    await lockPairsInOrder(
      trx,
      'month-rows',
      'exclusive',
      changes.map((c) => [c.tenantId, c.day.slice(0, 7)] as const),
    );
    for (const round of roundsOfDistinctMonths(changes)) await applyRound(trx, round);
  });
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

/**
 * The first row of a tenant-month's rows, or NULL: ORDER BY/LIMIT, not EXISTS (EXISTS lets the
 * planner think a sequential scan finds one at once).
 */
const firstRowOfMonth = sql`
  (SELECT true FROM invoice_month_rows m WHERE m.tenant_id = c.tenant_id AND m.month = c.month
   ORDER BY m.tenant_id, m.month, m.user_id LIMIT 1)`;

/** The changes as an SQL relation `u(tenant_id, day, added, removed, ruled)`. */
function changesRelation(changes: readonly CurrentRunChange[]): RawBuilder<unknown> {
  return sql`unnest(${changes.map((c) => c.tenantId)}::text[], ${changes.map((c) => c.day)}::date[],
                    ${changes.map((c) => c.addedRunId)}::bigint[], ${changes.map((c) => c.removedRunId)}::bigint[],
                    ${changes.map((c) => c.ruled === true)}::boolean[])
             AS u(tenant_id, day, added, removed, ruled)`;
}

/**
 * Each change with what its writes need, read under the months' lock before anything is written:
 * its month, bit, day of month (`dom`) and month length (`n`); `f`, the days the month records
 * (bits); its base run and the currencies of both runs; `fresh` when the month has nothing yet
 * (no base, no day, no row): the change's run then becomes the base.
 */
function changesWithMonths(changes: readonly CurrentRunChange[]): RawBuilder<unknown> {
  const start = sql`date_trunc('month', u.day)::date`;
  return sql`
    SELECT c.*, c.base IS NULL AND c.f = 0 AND ${firstRowOfMonth} IS NULL AS fresh
    FROM (
      SELECT u.tenant_id, u.day, u.added, u.removed, u.ruled, to_char(u.day, 'YYYY-MM') AS month, ${start} AS month_start,
             1 << (extract(day FROM u.day)::int - 1) AS bit,
             extract(day FROM u.day)::bigint AS dom,
             extract(day FROM ${start} + interval '1 month' - interval '1 day')::bigint AS n,
             ${recordedDaysSql(sql`u.tenant_id`, start)} AS f,
             rb.id AS base, ra.currency AS currency, rb.currency AS base_currency
      FROM ${changesRelation(changes)}
      JOIN runs ra ON ra.id = u.added
      LEFT JOIN invoice_month_bases b ON b.tenant_id = u.tenant_id AND b.month = to_char(u.day, 'YYYY-MM')
      LEFT JOIN runs rb ON rb.id = b.run_id
    ) c`;
}

const rowColumns = sql`(tenant_id, month, user_id, item, billing, unit_price, currency, days, quantity, amount,
                       first_day, last_day)`;

async function applyRound(trx: Db, changes: readonly CurrentRunChange[]): Promise<void> {
  if (changes.length === 0) return;
  // The added run's lines against the base's, per change, by a merge full join of both in the
  // order of their primary key (run_id, user_id, item): a run has one line per (user, item).
  // Without a base (a month recorded before migration 0015) every added line is unpaired.
  const pairs = sql.raw(`CROSS JOIN LATERAL (
        SELECT a.user_id AS a_user, a.item AS a_item, a.billing AS a_billing, a.unit_price AS a_price, a.amount AS a_amount,
               b.user_id AS b_user, b.item AS b_item, b.billing AS b_billing, b.unit_price AS b_price
        FROM (SELECT user_id, item, billing, unit_price, amount FROM charge_lines
              WHERE run_id = c.added ORDER BY user_id, item OFFSET 0) a
        FULL JOIN (SELECT user_id, item, billing, unit_price FROM charge_lines
                   WHERE run_id = c.base ORDER BY user_id, item OFFSET 0) b
          ON a.user_id = b.user_id AND a.item = b.item) p`);
  const sameKey = sql`p.a_user IS NOT NULL AND p.b_user IS NOT NULL AND p.a_billing = p.b_billing
                      AND p.a_price = p.b_price AND c.currency = c.base_currency`;
  // The base's rows hold the rule's amount for every day; a line off the rule (not written by
  // billing's day query: a run made by hand) is kept as an exception with its own amount.
  const followsRule = (amount: string, billing: string, price: string) =>
    sql`${sql.raw(amount)} = ${lineAmountSql(sql.raw(billing), sql.raw(price), sql`c.dom`, sql`c.n`)}`;
  // No exception row of the change's month (columns of relation j) for a key: a probe of the
  // rows' primary key per candidate (OFFSET 0 keeps it a probe: as an anti-join the planner may
  // hash every month's rows of every tenant).
  const noExceptionFor = (user: string, item: string, billing: string, price: string, currency: string) =>
    sql.raw(`NOT EXISTS (SELECT 1 FROM invoice_month_rows m WHERE m.tenant_id = j.tenant_id AND m.month = j.month
                           AND m.user_id = ${user} AND m.item = ${item} AND m.billing = ${billing}
                           AND m.unit_price = ${price} AND m.currency = ${currency} OFFSET 0)`);
  const others = sql`(j.f & ~j.bit)`;
  const withDay = sql`(j.f | j.bit)`;
  const daysColumns = (mask: RawBuilder<unknown>) => sql`${mask}, bit_count(${mask}::bit(31))::int`;
  const spanColumns = (mask: RawBuilder<unknown>) =>
    sql`${firstDayOfSql(mask, sql`j.month_start`)}, ${lastDayOfSql(mask, sql`j.month_start`)}`;
  await sql`
    WITH c AS MATERIALIZED (${changesWithMonths(changes)}),
    based AS (
      INSERT INTO invoice_month_bases (tenant_id, month, run_id)
      SELECT tenant_id, month, added FROM c WHERE fresh
      -- A base whose run is gone (runs deleted by hand) is no base: the month starts again.
      ON CONFLICT (tenant_id, month) DO UPDATE SET run_id = EXCLUDED.run_id
    ),
    off_rule AS (
      INSERT INTO invoice_month_rows ${rowColumns}
      SELECT c.tenant_id, c.month, l.user_id, l.item, l.billing, l.unit_price, c.currency, c.bit, 1, l.amount, c.day, c.day
      FROM c CROSS JOIN LATERAL (SELECT * FROM charge_lines l WHERE l.run_id = c.added OFFSET 0) l
      WHERE c.fresh AND NOT c.ruled AND NOT ${followsRule('l.amount', 'l.billing', 'l.unit_price')}
    ),
    j AS MATERIALIZED (
      SELECT c.tenant_id, c.month, c.month_start, c.day, c.bit, c.n, c.f, c.currency, c.base_currency, p.*,
             ${sameKey} AS same_key
      FROM c ${pairs}
      WHERE NOT c.fresh AND NOT (${sameKey} AND ${followsRule('p.a_amount', 'p.a_billing', 'p.a_price')})
    ),
    -- New exceptions (keys that already have one are the update's, below):
    -- - a key of the base whose line today is off the rule: every other recorded day as the base
    --   holds them, and this day with its own amount;
    -- - a key of the day that the base lacks: this day;
    -- - a key of the base that the day lacks: every other recorded day (none: quantity 0, it
    --   only hides the base's line).
    added AS (
      INSERT INTO invoice_month_rows ${rowColumns}
      SELECT j.tenant_id, j.month, j.a_user, j.a_item, j.a_billing, j.a_price, j.currency, ${daysColumns(withDay)},
             ${amountOfDaysSql(sql`j.a_billing`, sql`j.a_price`, others, sql`j.n`)} + j.a_amount, ${spanColumns(withDay)}
      FROM j
      WHERE j.same_key AND ${noExceptionFor('j.a_user', 'j.a_item', 'j.a_billing', 'j.a_price', 'j.currency')}
      UNION ALL
      SELECT j.tenant_id, j.month, j.a_user, j.a_item, j.a_billing, j.a_price, j.currency, j.bit, 1, j.a_amount,
             j.day, j.day
      FROM j
      WHERE j.a_user IS NOT NULL AND NOT j.same_key
        AND ${noExceptionFor('j.a_user', 'j.a_item', 'j.a_billing', 'j.a_price', 'j.currency')}
      UNION ALL
      SELECT j.tenant_id, j.month, j.b_user, j.b_item, j.b_billing, j.b_price, j.base_currency, ${daysColumns(others)},
             ${amountOfDaysSql(sql`j.b_billing`, sql`j.b_price`, others, sql`j.n`)}, ${spanColumns(others)}
      FROM j
      WHERE j.b_user IS NOT NULL AND NOT j.same_key
        AND ${noExceptionFor('j.b_user', 'j.b_item', 'j.b_billing', 'j.b_price', 'j.base_currency')}
    ),
    -- Every exception of the months (read in its primary key's range, updated by its row id):
    -- this day's bit set with the added run's line of its key (one probe of that run's primary
    -- key), else cleared, taking out the amount the removed run's line added for the day (a
    -- probe of its primary key, only for a row that held the day: a re-run).
    moved AS (
      SELECT m.ctid AS row_id, c.month_start,
             (m.days & ~c.bit) | CASE WHEN a.amount IS NULL THEN 0 ELSE c.bit END AS days,
             CASE WHEN m.days & c.bit <> 0
                  THEN -coalesce(o.amount, ${lineAmountSql(sql`m.billing`, sql`m.unit_price`, sql`c.dom`, sql`c.n`)})
                  ELSE 0 END + coalesce(a.amount, 0) AS delta
      FROM c
      JOIN invoice_month_rows m ON m.tenant_id = c.tenant_id AND m.month = c.month
      LEFT JOIN LATERAL (SELECT a.amount FROM charge_lines a
                         WHERE a.run_id = c.added AND a.user_id = m.user_id AND a.item = m.item
                           AND a.billing = m.billing AND a.unit_price = m.unit_price AND m.currency = c.currency
                         OFFSET 0) a ON true
      LEFT JOIN LATERAL (SELECT o.amount FROM charge_lines o
                         WHERE m.days & c.bit <> 0 AND o.run_id = c.removed AND o.user_id = m.user_id
                           AND o.item = m.item AND o.billing = m.billing AND o.unit_price = m.unit_price
                         OFFSET 0) o ON true
      WHERE NOT c.fresh
    )
    UPDATE invoice_month_rows t
    SET days = v.days, quantity = bit_count(v.days::bit(31))::int, amount = t.amount + v.delta,
        first_day = ${firstDayOfSql(sql`v.days`, sql`v.month_start`)},
        last_day = ${lastDayOfSql(sql`v.days`, sql`v.month_start`)}
    FROM moved v
    WHERE t.ctid = v.row_id AND (t.days <> v.days OR v.delta <> 0)`.execute(trx);
  await sql`
    INSERT INTO invoice_month_days (tenant_id, day, run_id)
    SELECT u.tenant_id, u.day, u.added
    FROM ${changesRelation(changes)}
    ON CONFLICT (tenant_id, day) DO UPDATE SET run_id = EXCLUDED.run_id`.execute(trx);
}
