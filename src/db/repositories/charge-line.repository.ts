import { type RawBuilder, sql } from 'kysely';
import type { AmountDiff } from '../../domain/adjustments.ts';
import { type Minor, parseMinor, sumMinor } from '../../domain/money.ts';
import type { BillingMode } from '../../domain/settings.ts';
import type { Db } from '../database.ts';
import { type DayLinesParams, dayLinesSql } from './day-lines.repository.ts';

export interface StoredChargeLine {
  userId: string;
  item: string;
  billing: BillingMode;
  amount: Minor;
  unitPrice: number;
  priceBookId: string;
}

/** A charge line as SQL reads it back (`chargeLineColumns`): bigints and money as text. */
export interface ChargeLineSqlRow {
  user_id: string;
  item: string;
  billing: string;
  amount: string;
  unit_price: string;
  price_book_id: string;
}

/** The select list of `ChargeLineSqlRow` over `charge_lines`. */
export const chargeLineColumns = sql`user_id, item, billing, amount::text AS amount, unit_price::text AS unit_price,
           price_book_id::text AS price_book_id`;

/** What a charge line bills (all but its user): the one mapping of `ChargeLineSqlRow` values. */
export function chargeOfLine(r: ChargeLineSqlRow): Omit<StoredChargeLine, 'userId'> {
  return {
    item: r.item,
    billing: r.billing as BillingMode,
    amount: parseMinor(r.amount),
    unitPrice: parseMinor(r.unit_price),
    priceBookId: r.price_book_id,
  };
}

/** A run's lines summed by (item, billing): what `console_run_totals` keeps. */
export interface ItemSum {
  item: string;
  billing: string;
  lines: number;
  /** Minor units. */
  amount: Minor;
}

/**
 * Computes the lines of a tenant-day and inserts them under `runId` in ONE statement
 * (INSERT ... SELECT); only the sums by (item, billing) come back to Node (~10 rows), so memory
 * does not grow with the number of users. The count and total are their sums; the sums
 * themselves are the run's `console_run_totals` (grouping the inserted rows as they stream
 * costs little; reading a million lines back afterwards cost seconds).
 */
export async function insertDayLines(
  trx: Db,
  runId: string,
  p: DayLinesParams,
  priceBookId: string | null,
): Promise<{ lineCount: number; total: Minor; byItem: ItemSum[] }> {
  const { rows } = await sql<{ item: string; billing: string; n: string; total: string }>`
    WITH ins AS (
      INSERT INTO charge_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
      SELECT ${runId}::bigint, l.user_id, l.item, l.billing, l.amount, l.unit_price, ${priceBookId}::bigint
      FROM (${dayLinesSql(p, priceBookId, true)}) l
      RETURNING item, billing, amount
    )
    SELECT item, billing, count(*)::text AS n, sum(amount)::text AS total FROM ins GROUP BY item, billing
  `.execute(trx);
  return sumsOfRun(rows);
}

/** A run's line count, total and sums by (item, billing) from rows of `count(*)` and `sum(amount)` as text. */
export function sumsOfRun(rows: readonly { item: string; billing: string; n: string; total: string }[]): {
  lineCount: number;
  total: Minor;
  byItem: ItemSum[];
} {
  const byItem = rows.map((r) => ({
    item: r.item,
    billing: r.billing,
    lines: Number(r.n),
    amount: parseMinor(r.total),
  }));
  return {
    lineCount: byItem.reduce((n, r) => n + r.lines, 0),
    total: sumMinor(byItem.map((r) => r.amount)),
    byItem,
  };
}

/** A row of a diff as SQL gives it: amounts as text. */
export interface DiffRow {
  user_id: string;
  item: string;
  billing: BillingMode;
  before: string;
  after: string;
}

export const toDiff = (r: DiffRow): AmountDiff => ({
  userId: r.user_id,
  item: r.item,
  billing: r.billing,
  before: parseMinor(r.before),
  after: parseMinor(r.after),
});

/**
 * The (user, item, billing) whose amount differs between the lines of run `beforeRunId` (none:
 * every amount 0) and `after` (a run's lines or the day computed now), in byte order, at most
 * `limit` rows (null: all; SQL `LIMIT NULL` means no limit). The SQL twin of `diffRuns` for one run against another.
 * The run's lines are read by their primary key (run_id, user_id, item) in (user, item, billing)
 * order (billing is one per user and item in a run: an incremental sort of single rows): with
 * `after` in the same order (`diffRunLines`) the join is a merge full join of the two runs' lines
 * alone, where a hash full join read every run's lines of the table and spilled its hash.
 */
async function diffAgainstRun(
  db: Db,
  beforeRunId: string | null,
  after: RawBuilder<unknown>,
  limit: number | null,
): Promise<AmountDiff[]> {
  const { rows } = await sql<DiffRow>`
    SELECT coalesce(b.user_id, a.user_id) AS user_id, coalesce(b.item, a.item) AS item,
           coalesce(b.billing, a.billing) AS billing,
           coalesce(b.amount, 0)::text AS before, coalesce(a.amount, 0)::text AS after
    FROM (SELECT user_id, item, billing, amount FROM charge_lines WHERE run_id = ${beforeRunId}::bigint
          ORDER BY user_id, item, billing OFFSET 0) b
    FULL JOIN (${after}) a ON a.user_id = b.user_id AND a.item = b.item AND a.billing = b.billing
    WHERE coalesce(b.amount, 0) <> coalesce(a.amount, 0)
    ORDER BY 1, 2, 3
    LIMIT ${limit}
  `.execute(db);
  return rows.map(toDiff);
}

/** Differences between two stored runs (`before` null: no previous run). At most `limit` rows. */
export async function diffRunLines(
  db: Db,
  beforeRunId: string | null,
  afterRunId: string,
  limit: number | null,
): Promise<AmountDiff[]> {
  if (limit === 0) return []; // LIMIT 0: no rows, no round trip (`billing run` asks for none)
  if (beforeRunId === null) {
    // First run of the day: every non-zero line is a change; the primary key (run_id, user_id,
    // item) gives the order, so the LIMIT stops early (billing is unique per user and item).
    const { rows } = await sql<DiffRow>`
      SELECT user_id, item, billing, '0' AS before, amount::text AS after
      FROM charge_lines WHERE run_id = ${afterRunId}::bigint AND amount <> 0
      ORDER BY user_id, item LIMIT ${limit}
    `.execute(db);
    return rows.map(toDiff);
  }
  return diffAgainstRun(
    db,
    beforeRunId,
    sql`SELECT user_id, item, billing, amount FROM charge_lines WHERE run_id = ${afterRunId}::bigint
        ORDER BY user_id, item, billing OFFSET 0`,
    limit,
  );
}

/** Differences between run `beforeRunId` and the day as computed now (a dry run: reads only). */
export async function diffComputedAgainstRun(
  db: Db,
  beforeRunId: string | null,
  p: DayLinesParams,
  priceBookId: string | null,
  limit: number | null,
): Promise<AmountDiff[]> {
  return diffAgainstRun(
    db,
    beforeRunId,
    sql`SELECT user_id, item, billing, amount FROM (${dayLinesSql(p, priceBookId)}) c`,
    limit,
  );
}

/** Line count and total (minor units) of the day as computed now, without writing anything. */
export async function computedTotals(
  db: Db,
  p: DayLinesParams,
  priceBookId: string | null,
): Promise<{ lineCount: number; total: Minor }> {
  const { rows } = await sql<{ n: string; total: string }>`
    SELECT count(*)::text AS n, coalesce(sum(amount), 0)::text AS total FROM (${dayLinesSql(p, priceBookId)}) c
  `.execute(db);
  const r = rows[0] as { n: string; total: string };
  return { lineCount: Number(r.n), total: parseMinor(r.total) };
}
