import { type RawBuilder, sql } from 'kysely';
import type { AmountDiff } from '../../domain/adjustments.ts';
import type { Db } from '../database.ts';
import { inTransaction } from '../transaction.ts';
import { lockPairsInOrder } from './advisory-locks.ts';
import { type DiffRow, toDiff } from './charge-line.repository.ts';
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
  /**
   * Also give the differences between the removed run's lines and the added run's (by user, item
   * and billing, as `diffRunLines` gives them), at most this many (null: all; 0 or absent: none).
   */
  diffLimit?: number | null;
}

/**
 * The differences asked for (`diffLimit`), by added run: only for the changes that supersede the
 * run a month already recorded holds for their day. The others are for `diffRunLines`: a day's
 * first run and a month's first run (it reads nothing but the added run's lines there), and the
 * rare day whose current run is not the one its month records (runs made by hand).
 */
export type RunDiffs = Map<string, AmountDiff[]>;

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
 * are read against the base's, both in primary-key order (a merge join, no sort). Whether the
 * day has an exception's key is read from the comparison where it names the key, else from the
 * exception's `in_base` (migration 0016: for a key the comparison does not name, the day has a
 * line exactly when the base has one), so the differing keys and the exceptions meet in one
 * join and no exception costs a probe. The removed run's lines are read only where an exception
 * loses the day (a probe of its primary key for the amount the day held); base keys hold the
 * rule's amount for every day.
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
export async function applyRunsToMonthRows(db: Db, changes: readonly CurrentRunChange[]): Promise<RunDiffs> {
  const diffs: RunDiffs = new Map();
  if (changes.length === 0) return diffs;
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
    for (const round of roundsOfDistinctMonths(changes)) {
      for (const r of await applyRound(trx, round)) {
        const rows = diffs.get(r.run_id) ?? [];
        diffs.set(r.run_id, rows);
        if (r.user_id !== null) rows.push(toDiff(r as DiffRow));
      }
    }
  });
  return diffs;
}

/** `applyRunsToMonthRows` for one run. */
export async function applyRunToMonthRows(trx: Db, c: CurrentRunChange): Promise<void> {
  await applyRunsToMonthRows(trx, [c]);
}

/** A row of `applyRound`'s diffs; a row of NULLs says the change's diff was computed. */
type RoundDiffRow = { run_id: string } & ({ [K in keyof DiffRow]: DiffRow[K] } | { user_id: null });

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

/** The changes as an SQL relation `u(tenant_id, day, added, removed, ruled, diff_limit)`. */
function changesRelation(changes: readonly CurrentRunChange[]): RawBuilder<unknown> {
  return sql`unnest(${changes.map((c) => c.tenantId)}::text[], ${changes.map((c) => c.day)}::date[],
                    ${changes.map((c) => c.addedRunId)}::bigint[], ${changes.map((c) => c.removedRunId)}::bigint[],
                    ${changes.map((c) => c.ruled === true)}::boolean[],
                    ${changes.map((c) => (c.diffLimit === undefined ? 0 : c.diffLimit))}::bigint[])
             AS u(tenant_id, day, added, removed, ruled, diff_limit)`;
}

/**
 * Each change with what its writes need, read under the months' lock before anything is written:
 * its month, bit, day of month (`dom`) and month length (`n`); `f`, the days the month records
 * (bits); its base run and the currencies of both runs; `recorded`, the run the month holds for
 * the day (null: none); `fresh` when the month has nothing yet (no base, no day, no row): the
 * change's run then becomes the base.
 */
function changesWithMonths(changes: readonly CurrentRunChange[]): RawBuilder<unknown> {
  const start = sql`date_trunc('month', u.day)::date`;
  return sql`
    SELECT c.*, c.base IS NULL AND c.f = 0 AND ${firstRowOfMonth} IS NULL AS fresh
    FROM (
      SELECT u.tenant_id, u.day, u.added, u.removed, u.ruled, u.diff_limit, to_char(u.day, 'YYYY-MM') AS month, ${start} AS month_start,
             1 << (extract(day FROM u.day)::int - 1) AS bit,
             extract(day FROM u.day)::bigint AS dom,
             extract(day FROM ${start} + interval '1 month' - interval '1 day')::bigint AS n,
             ${recordedDaysSql(sql`u.tenant_id`, start)} AS f,
             rb.id AS base, ra.currency AS currency, rb.currency AS base_currency,
             (SELECT r.run_id FROM invoice_month_days r WHERE r.tenant_id = u.tenant_id AND r.day = u.day) AS recorded
      FROM ${changesRelation(changes)}
      JOIN runs ra ON ra.id = u.added
      LEFT JOIN invoice_month_bases b ON b.tenant_id = u.tenant_id AND b.month = to_char(u.day, 'YYYY-MM')
      LEFT JOIN runs rb ON rb.id = b.run_id
    ) c`;
}

const rowColumns = sql`(tenant_id, month, user_id, item, billing, unit_price, currency, days, quantity, amount,
                       first_day, last_day, in_base)`;

async function applyRound(trx: Db, changes: readonly CurrentRunChange[]): Promise<RoundDiffRow[]> {
  if (changes.length === 0) return [];
  // The added run's lines against the base's, per change, by a merge full join of both in the
  // order of their primary key (run_id, user_id, item): a run has one line per (user, item).
  // DISTINCT ON tells the planner so (it changes no row): the merge then reads the base's lines
  // once, where a side it cannot prove unique is copied into a Materialize to be re-read.
  // Without a base (a month recorded before migration 0015) every added line is unpaired.
  const pairs = sql.raw(`CROSS JOIN LATERAL (
        SELECT a.user_id AS a_user, a.item AS a_item, a.billing AS a_billing, a.unit_price AS a_price, a.amount AS a_amount,
               b.user_id AS b_user, b.item AS b_item, b.billing AS b_billing, b.unit_price AS b_price
        FROM (SELECT user_id, item, billing, unit_price, amount FROM charge_lines
              WHERE run_id = c.added ORDER BY user_id, item OFFSET 0) a
        FULL JOIN (SELECT DISTINCT ON (user_id, item) user_id, item, billing, unit_price FROM charge_lines
                   WHERE run_id = c.base ORDER BY user_id, item) b
          ON a.user_id = b.user_id AND a.item = b.item) p`);
  const sameKey = sql`p.a_user IS NOT NULL AND p.b_user IS NOT NULL AND p.a_billing = p.b_billing
                      AND p.a_price = p.b_price AND c.currency = c.base_currency`;
  // The base's rows hold the rule's amount for every day; a line off the rule (not written by
  // billing's day query: a run made by hand) is kept as an exception with its own amount.
  const ruleAmount = (billing: string, price: string) =>
    lineAmountSql(sql.raw(billing), sql.raw(price), sql`c.dom`, sql`c.n`);
  const followsRule = (amount: string, billing: string, price: string) =>
    sql`${sql.raw(amount)} = ${ruleAmount(billing, price)}`;
  const others = sql`(c.f & ~c.bit)`;
  // An exception's days: the recorded days other than this one where the base has its key, and
  // this day where the day has it.
  const newDays = sql`(CASE WHEN k.in_b THEN ${others} ELSE 0 END | CASE WHEN k.in_a THEN c.bit ELSE 0 END)`;
  // Whether the day has an exception's key, and the day's amount for it: the comparison's when
  // it names the key; otherwise the day has a line of the key exactly when the base does
  // (`in_base`, migration 0016), with the rule's amount.
  const dayHas = sql`CASE WHEN k.user_id IS NOT NULL THEN k.in_a ELSE k.m_in_base AND c.base IS NOT NULL END`;
  const dayAmount = sql`CASE WHEN k.user_id IS NOT NULL THEN k.a_amount ELSE ${ruleAmount('k.m_billing', 'k.m_price')} END`;
  const movedDays = sql`((k.m_days & ~c.bit) | CASE WHEN ${dayHas} THEN c.bit ELSE 0 END)`;
  const wantsDiff = changes.some((c) => c.diffLimit !== undefined && c.diffLimit !== 0);
  const { rows } = await sql<RoundDiffRow>`
    WITH c AS MATERIALIZED (${changesWithMonths(changes)}),
    based AS (
      INSERT INTO invoice_month_bases (tenant_id, month, run_id)
      SELECT tenant_id, month, added FROM c WHERE fresh
      -- A base whose run is gone (runs deleted by hand) is no base: the month starts again.
      ON CONFLICT (tenant_id, month) DO UPDATE SET run_id = EXCLUDED.run_id
    ),
    off_rule AS (
      INSERT INTO invoice_month_rows ${rowColumns}
      SELECT c.tenant_id, c.month, l.user_id, l.item, l.billing, l.unit_price, c.currency, c.bit, 1, l.amount, c.day,
             c.day, true
      FROM c CROSS JOIN LATERAL (SELECT * FROM charge_lines l WHERE l.run_id = c.added OFFSET 0) l
      WHERE c.fresh AND NOT c.ruled AND NOT ${followsRule('l.amount', 'l.billing', 'l.unit_price')}
    ),
    j AS (
      SELECT c.tenant_id, c.month, c.currency, c.base_currency, p.*, ${sameKey} AS same_key
      FROM c ${pairs}
      WHERE NOT c.fresh AND NOT (${sameKey} AND ${followsRule('p.a_amount', 'p.a_billing', 'p.a_price')})
    ),
    -- The keys where the day differs from the base: the day has it (in_a, with its amount) and
    -- the base has it (in_b). A key of the base whose line today is off the rule has both; a key
    -- of the day that the base lacks, only in_a; a key of the base that the day lacks, only in_b.
    d AS (
      SELECT tenant_id, month, a_user AS user_id, a_item AS item, a_billing AS billing, a_price AS unit_price,
             currency, true AS in_a, a_amount, same_key AS in_b
      FROM j WHERE a_user IS NOT NULL
      UNION ALL
      SELECT tenant_id, month, b_user, b_item, b_billing, b_price, base_currency, false, 0, true
      FROM j WHERE b_user IS NOT NULL AND NOT same_key
    ),
    -- The months' exceptions (a range of their primary key per change).
    m AS (
      SELECT m.ctid AS row_id, m.tenant_id, m.month, m.user_id, m.item, m.billing, m.unit_price, m.currency, m.days,
             m.in_base
      FROM c JOIN invoice_month_rows m ON m.tenant_id = c.tenant_id AND m.month = c.month
      WHERE NOT c.fresh
    ),
    -- Each key that differs or has an exception, once.
    k AS MATERIALIZED (
      SELECT coalesce(d.tenant_id, m.tenant_id) AS tenant_id, coalesce(d.month, m.month) AS month,
             d.user_id, d.item, d.billing, d.unit_price, d.currency, d.in_a, d.a_amount, d.in_b,
             m.row_id, m.user_id AS m_user, m.item AS m_item, m.billing AS m_billing, m.unit_price AS m_price,
             m.days AS m_days, m.in_base AS m_in_base
      FROM d FULL JOIN m
        ON d.tenant_id = m.tenant_id AND d.month = m.month AND d.user_id = m.user_id AND d.item = m.item
       AND d.billing = m.billing AND d.unit_price = m.unit_price AND d.currency = m.currency
    ),
    -- A differing key without an exception gets one: the base's amount for its other days (the
    -- rule's, telescoped) and the day's own line.
    added AS (
      INSERT INTO invoice_month_rows ${rowColumns}
      SELECT k.tenant_id, k.month, k.user_id, k.item, k.billing, k.unit_price, k.currency, ${newDays},
             bit_count(${newDays}::bit(31))::int,
             CASE WHEN k.in_b THEN ${amountOfDaysSql(sql`k.billing`, sql`k.unit_price`, others, sql`c.n`)} ELSE 0 END
               + k.a_amount,
             ${firstDayOfSql(newDays, sql`c.month_start`)}, ${lastDayOfSql(newDays, sql`c.month_start`)}, k.in_b
      FROM k JOIN c ON c.tenant_id = k.tenant_id AND c.month = k.month
      WHERE k.row_id IS NULL
    ),
    -- Every exception gets this day's bit set or cleared; one that held the day gives back the
    -- amount the removed run's line added for it (a probe of that run's primary key: a re-run).
    moved AS (
      SELECT k.row_id, k.tenant_id, k.month, k.m_user AS user_id, k.m_item AS item, k.m_billing AS billing,
             c.month_start, k.m_days, ${movedDays} AS days,
             CASE WHEN k.m_days & c.bit <> 0 THEN coalesce(o.amount, ${ruleAmount('k.m_billing', 'k.m_price')})
                  ELSE 0 END AS before,
             CASE WHEN ${dayHas} THEN ${dayAmount} ELSE 0 END AS after
      FROM k JOIN c ON c.tenant_id = k.tenant_id AND c.month = k.month
      LEFT JOIN LATERAL (SELECT o.amount FROM charge_lines o
                         WHERE k.m_days & c.bit <> 0 AND o.run_id = c.removed AND o.user_id = k.m_user
                           AND o.item = k.m_item AND o.billing = k.m_billing AND o.unit_price = k.m_price
                         OFFSET 0) o ON true
      WHERE k.row_id IS NOT NULL
    ),
    -- Only the rows that change are visited (most exceptions keep their days on most days).
    v AS (SELECT * FROM moved WHERE days <> m_days OR after <> before OFFSET 0),
    updated AS (
      UPDATE invoice_month_rows t
      SET days = v.days, quantity = bit_count(v.days::bit(31))::int, amount = t.amount + v.after - v.before,
          first_day = ${firstDayOfSql(sql`v.days`, sql`v.month_start`)},
          last_day = ${lastDayOfSql(sql`v.days`, sql`v.month_start`)}
      FROM v
      WHERE t.ctid = v.row_id
    )
    ${wantsDiff ? diffOfRound(ruleAmount('k.billing', 'k.unit_price')) : sql`SELECT NULL::text AS run_id WHERE false`}`.execute(
    trx,
  );
  await sql`
    INSERT INTO invoice_month_days (tenant_id, day, run_id)
    SELECT u.tenant_id, u.day, u.added
    FROM ${changesRelation(changes)}
    ON CONFLICT (tenant_id, day) DO UPDATE SET run_id = EXCLUDED.run_id`.execute(trx);
  return rows;
}

/**
 * The changes whose diff `diffOfRound` gives: asked for, superseding a run, in a month already
 * recorded, and superseding the very run the month records for the day. A day whose current run
 * is not the recorded one (a run made or superseded by hand, as `filePartsPlan` detects for the
 * export) is diffed from both runs' lines by `diffRunLines`: the month rows do not describe the
 * run it supersedes. (`recorded` is read from `invoice_month_days` before the statement writes
 * it: the run the month held for the day until now.)
 */
const diffedHere = sql`c.removed IS NOT NULL AND c.diff_limit IS DISTINCT FROM 0 AND NOT c.fresh AND c.recorded = c.removed`;

/**
 * The final query of `applyRound` when a change asks for its diff: the differences between the
 * removed run's lines and the added run's, read from the keys the statement already joined
 * (`k`, `v`), with no second pass over either run. A key neither differing from the base nor
 * holding an exception is in both runs with the rule's amount (the removed run's day followed
 * the base there, or the key would have an exception), so it cannot differ. A moved exception
 * held `before` for the day and holds `after`; a new exception's key followed the base until now
 * (`in_b`: the rule's amount) and has the day's line (`in_a`). Summed by (user, item, billing)
 * as `diffRunLines` compares (a run has one line per user and item, so at most one key of a
 * group has a `before`, one an `after`), in the same order, `diff_limit` rows per change; and a
 * row of NULLs per change that was diffed. Only a change that supersedes the run a recorded
 * month records for its day is diffed here (`diffedHere`): a day's first run has no removed run,
 * and there the base would stand for a day it never held.
 */
function diffOfRound(newKeyRuleAmount: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`,
    fresh_keys AS (
      SELECT k.tenant_id, k.month, k.user_id, k.item, k.billing,
             CASE WHEN k.in_b THEN ${newKeyRuleAmount} ELSE 0 END AS before,
             CASE WHEN k.in_a THEN k.a_amount ELSE 0 END AS after
      FROM k JOIN c ON c.tenant_id = k.tenant_id AND c.month = k.month
      WHERE k.row_id IS NULL
    ),
    changed AS (
      SELECT tenant_id, month, user_id, item, billing COLLATE "C" AS billing, before, after FROM v WHERE after <> before
      UNION ALL
      SELECT tenant_id, month, user_id, item, billing COLLATE "C", before, after FROM fresh_keys WHERE after <> before
    ),
    diff AS (
      SELECT c.added, x.user_id, x.item, x.billing, sum(x.before) AS before, sum(x.after) AS after,
             row_number() OVER (PARTITION BY c.added ORDER BY x.user_id, x.item, x.billing) AS n,
             c.diff_limit
      FROM changed x JOIN c ON c.tenant_id = x.tenant_id AND c.month = x.month
      WHERE ${diffedHere}
      GROUP BY c.added, c.diff_limit, x.user_id, x.item, x.billing
      HAVING sum(x.before) <> sum(x.after)
    )
    SELECT added::text AS run_id, user_id, item, billing, before::text AS before, after::text AS after
    FROM diff WHERE diff_limit IS NULL OR n <= diff_limit
    UNION ALL
    SELECT added::text, NULL, NULL, NULL, NULL, NULL FROM c
    WHERE ${diffedHere}
    ORDER BY 1, 2, 3, 4`;
}
