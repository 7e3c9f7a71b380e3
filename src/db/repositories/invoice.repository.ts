import { type RawBuilder, sql } from 'kysely';
import { daysInMonth } from '../../domain/calendar.ts';
import { compareCodePoints } from '../../domain/code-point-order.ts';
import { type Minor, parseMinor } from '../../domain/money.ts';
import { daysIn, runsOfDays } from '../../domain/month-days.ts';
import type { Db } from '../database.ts';
import { tuneForExport } from './export-planner-settings.ts';
import { amountOfKnownDaysSql, recordedDaysSql } from './month-days.ts';

/** One row of the invoice CSV as the database computes it, amounts in minor units. */
export interface InvoiceRow {
  tenantId: string;
  userId: string;
  lastName: string | null;
  email: string | null;
  /** `license.*`, `addon.*`, or `adjustment.*` for an adjustment row. */
  item: string;
  billing: string;
  /** Distinct days the row covers (for an adjustment row: the corrected days). */
  quantity: number;
  /** Null for adjustment rows. */
  unitPrice: Minor | null;
  amount: Minor;
  currency: string;
  firstDay: string;
  lastDay: string;
}

/** Where one tenant's period ends (tenant-local month end, as an instant). */
export interface TenantPeriodEnd {
  tenantId: string;
  periodEnd: Date;
}

export interface InvoiceQuery {
  /** `YYYY-MM`. */
  month: string;
  /** The tenants to export, each with the end of its period; rows of other tenants are left out. */
  tenants: readonly TenantPeriodEnd[];
}

interface RawInvoiceRow {
  tenant_id: string;
  user_id: string;
  last_name: string | null;
  email: string | null;
  item: string;
  billing: string;
  quantity: number;
  unit_price: string | null;
  amount: string;
  currency: string;
  first_day: string;
  last_day: string;
}

const toInvoiceRow = (r: RawInvoiceRow): InvoiceRow => ({
  tenantId: r.tenant_id,
  userId: r.user_id,
  lastName: r.last_name,
  email: r.email,
  item: r.item,
  billing: r.billing,
  quantity: r.quantity,
  unitPrice: r.unit_price === null ? null : parseMinor(r.unit_price),
  amount: parseMinor(r.amount),
  currency: r.currency,
  firstDay: r.first_day,
  lastDay: r.last_day,
});

/** A month's base run (`invoice_month_bases`) and the days its month records. */
export interface MonthBase {
  runId: string;
  currency: string;
  /** Bit d-1: day d is recorded (`invoice_month_days`). */
  days: number;
}

/** One tenant's part of the file: the month and where the tenant's period ends. */
export interface TenantMonth extends TenantPeriodEnd {
  /** `YYYY-MM`. */
  month: string;
  /**
   * Group the month's current lines here instead of reading `invoice_month_rows`: for a month
   * whose rows do not hold its current runs (`filePartsPlan`).
   */
  fromLines?: boolean;
  /**
   * The month's base (migration 0015) as `filePartsPlan` reads it in the export's snapshot: the
   * run whose lines stand for rows holding every recorded day, its currency and those days
   * (bits); `null` for a month without a base. Required to read the month rows.
   */
  base?: MonthBase | null;
  /**
   * The period's `closed_at` as PostgreSQL writes it (microseconds kept), `null` while it is
   * open; read in the export's snapshot by `filePartsPlan`. A literal of the query, so the
   * planner knows that (nearly) every version passes the import cut-off (of a sub-select's
   * unknown value it guesses that a third do) and plans the names for that many.
   */
  closedAt: string | null;
}

/**
 * The query behind one tenant's part of the invoice CSV, rows already in the file's order
 * (user, item, billing, first day by UTF-8 bytes: every text key is compared `COLLATE "C"`).
 * The file is the tenants' parts in byte order of their ids (`tenantsInFileOrder`).
 *
 * - Charge rows: `invoice_month_rows` (migration 0010), the grouping of the month's current
 *   charge lines by (user, item, billing, unit price, currency) that every charge run keeps in
 *   its own transaction (`applyRunToMonthRows`). Read in file order from its primary key, which
 *   is the file's order up to `billing` (migration 0014): nothing is grouped at export time, and
 *   only the rows of one (user, item, billing) are sorted by first day and unit price (an
 *   Incremental Sort of groups that almost always hold one row). (The ORDER BY inside the branch
 *   is what lets the planner use that order: a UNION ALL branch with a WHERE is planned as a
 *   subquery of its own.)
 * - Adjustment rows: adjustment lines invoiced in this period, grouped and sorted here (they are
 *   few): one row per (user, item, billing, currency); several adjustment runs may correct the
 *   same day, hence `count(DISTINCT day)`. Merged into the order of the charge rows (Merge
 *   Append: both branches have exactly the same column types and collations).
 * - Names: the user's latest version (active or not) effective before the tenant's period
 *   end; for a closed period only versions imported by the time it was closed. One pass over
 *   the tenant's versions keeping each user's last (`DISTINCT ON (user_id)`, latest
 *   `effective_at` first), merged with the rows by user: no lookup per row. `DISTINCT ON` rather
 *   than a window (`lead`) and a filter: the planner then knows the names hold one row per user,
 *   so the Merge Join reads them once, in order, instead of materialising them to re-read a
 *   user's rows (Materialize under the join: ~15% of the export's query, measured in
 *   docs/performance/export.md, "Issue 11, seventh step"). The import cut-off is a literal when
 *   the caller read it first (`closedAt`), so the planner sees how many versions pass it.
 *
 * Also used verbatim by the export benchmark as `COPY (…) TO STDOUT`.
 */
export function invoiceRowsQuery(t: TenantMonth): RawBuilder<RawInvoiceRow> {
  return invoiceQuery<RawInvoiceRow>(
    t,
    sql`${t.tenantId}::text AS tenant_id, g.user_id, n.last_name, n.email, g.item, g.billing, g.quantity,
        g.unit_price::text AS unit_price, g.amount::text AS amount, g.currency::text AS currency,
        g.first_day, g.last_day`,
    sql``,
  );
}

/**
 * The charge rows as billing keeps them (`applyRunsToMonthRows`): the month's exception rows
 * (quantity 0 only hides a key of the base), and each line of the base run that no exception
 * names, as a row holding every recorded day (its quantity, amount and first/last day follow
 * from those days: `amountOfKnownDaysSql`). Both in file order from their primary keys: the
 * exceptions' is the file's order up to `billing`, the base's (run, user, item) is up to `item`,
 * and a base key has one line per (user, item), so only groups of one row are left to sort.
 *
 * Each branch is in the file's whole order (user, item, billing, first day, unit price), so the
 * branches merge into it and nothing is sorted after the names are joined (a sort of every row
 * of the file, the widest they get: ~100 ms of a 260,000-row month; docs/performance/export.md,
 * "The statement in file order"). Two things keep it so:
 * - the base's first day is a constant, and the planner drops a constant from a branch's sort
 *   order, which then only goes up to `item`: it is written as depending on the line
 *   (`0 * l.run_id`, the same value) so that the branch's order names it;
 * - the exceptions that hide a base line are the month rows of the base's currency read in
 *   their primary key's order (user, item first) under a left join: as `NOT EXISTS`, the planner
 *   sorted them again although the index returns them in that order.
 */
const monthRows = (t: TenantMonth) => {
  if (t.base === undefined)
    throw new Error(`invoice CSV: the part of tenant "${t.tenantId}" was not planned`);
  const exceptions = sql`
  (SELECT m.user_id, m.item, m.billing, m.unit_price, m.quantity, m.amount, m.currency, m.first_day, m.last_day
   FROM invoice_month_rows m
   WHERE m.tenant_id = ${t.tenantId}::text AND m.month = ${t.month}::text AND m.quantity > 0
   ORDER BY m.user_id, m.item, m.billing, m.first_day, m.unit_price)`;
  const b = t.base;
  if (b === null || b.days === 0) return exceptions;
  const runs = runsOfDays(b.days);
  const first = runs[0]?.[0] ?? 1;
  const last = runs.at(-1)?.[1] ?? 1;
  const start = `${t.month}-01`;
  return sql`${exceptions}
  UNION ALL
  (SELECT l.user_id, l.item, l.billing COLLATE "C", l.unit_price, ${daysIn(b.days)}::int,
          ${amountOfKnownDaysSql(sql`l.billing`, sql`l.unit_price`, b.days, daysInMonth(start))}::bigint,
          ${b.currency}::char(3), ${start}::date + (${first - 1}::int + 0 * l.run_id)::int,
          ${start}::date + ${last - 1}::int
   FROM charge_lines l
   LEFT JOIN (SELECT m.user_id, m.item, m.billing, m.unit_price
              FROM invoice_month_rows m
              WHERE m.tenant_id = ${t.tenantId}::text AND m.month = ${t.month}::text
                AND m.currency = ${b.currency}::char(3)
              ORDER BY m.user_id, m.item) hidden
     ON hidden.user_id = l.user_id AND hidden.item = l.item AND hidden.billing = l.billing
        AND hidden.unit_price = l.unit_price
   WHERE l.run_id = ${b.runId}::bigint AND hidden.user_id IS NULL
   ORDER BY 1, 2, 3, 8, 4)`;
};

/**
 * The same rows grouped from the month's current lines (what `invoice_month_rows` holds when
 * every current run went through billing). `count(*)` is the number of distinct days: one
 * current run per tenant-day, one line per run, user and item.
 */
const groupedLines = (t: TenantMonth) => sql`
  (SELECT l.user_id, l.item, l.billing COLLATE "C" AS billing, l.unit_price, count(*)::int AS quantity,
          sum(l.amount)::bigint AS amount, r.currency, min(r.day) AS first_day, max(r.day) AS last_day
   FROM runs r
   JOIN charge_lines l ON l.run_id = r.id
   WHERE r.tenant_id = ${t.tenantId}::text AND r.is_current
     AND r.day >= ${`${t.month}-01`}::date AND r.day < ${`${t.month}-01`}::date + interval '1 month'
   GROUP BY l.user_id, l.item, l.billing, l.unit_price, r.currency)`;

/**
 * The rows of one tenant's part before the names: the charge rows (month rows, or the month's
 * current lines grouped) and the adjustment rows, with the same columns (user_id, item,
 * billing, unit_price, quantity, amount, currency, first_day, last_day). The month rows'
 * branches and the adjustments' are each in file order (`ORDER BY 1, 2, 3, 8, 4`), so the
 * planner merges them in it (see `monthRows`).
 */
const partRows = (t: TenantMonth) => sql`
  ${t.fromLines ? groupedLines(t) : monthRows(t)}
  UNION ALL
  (SELECT a.user_id, a.item, a.billing COLLATE "C", NULL::bigint, count(DISTINCT a.day)::int,
          sum(a.amount)::bigint, a.currency, min(a.day), max(a.day)
   FROM adjustment_lines a
   WHERE a.tenant_id = ${t.tenantId}::text AND a.period = ${t.month}
   GROUP BY a.user_id, a.item, a.billing, a.currency
   ORDER BY 1, 2, 3, 8, 4)`;

/** The names' import cut-off: versions imported by the time the period closed (if it is closed). */
function importCutoff(t: TenantMonth): RawBuilder<unknown> {
  return t.closedAt === null ? sql`` : sql`AND v.imported_at <= ${t.closedAt}::timestamptz`;
}

/** The one query's body with `select` as its select list and `from` joined after the names. */
export function invoiceQuery<R>(
  t: TenantMonth,
  select: RawBuilder<unknown>,
  from: RawBuilder<unknown>,
): RawBuilder<R> {
  return sql<R>`
    SELECT ${select}
    FROM (${partRows(t)}) g
    LEFT JOIN (
      SELECT DISTINCT ON (v.user_id) v.user_id, v.last_name, v.email
      FROM settings_versions v
      WHERE v.tenant_id = ${t.tenantId}::text AND v.effective_at < ${t.periodEnd.toISOString()}::timestamptz
        ${importCutoff(t)}
      ORDER BY v.user_id, v.effective_at DESC
    ) n ON n.user_id = g.user_id
    ${from}
    ORDER BY g.user_id COLLATE "C", g.item COLLATE "C", g.billing COLLATE "C", g.first_day, g.unit_price`;
}

/**
 * The file's parts in file order (tenant ids by UTF-8 bytes), each with what its query needs,
 * read in ONE statement for all the file's tenants (not three per tenant: 30,000 round trips for
 * 10,000 tenants):
 *
 * - `fromLines`: whether `invoice_month_rows` does NOT hold exactly the month's current runs
 *   (every current run of the month is the run `invoice_month_days` records for its day, and no
 *   recorded run has stopped being current). Billing keeps both in each run's transaction, so
 *   this is true only for runs made or superseded by hand (SQL seeds, repairs); the part then
 *   groups the lines itself;
 * - `closedAt`: the period's `closed_at` as text (microseconds kept: a JS Date would cut them and
 *   could drop a version imported in the closing millisecond), `null` while it is open;
 * - `currencies`: those the part can hold, in code order: of the month's current runs (whose
 *   lines the charge rows are) and of the period's adjustment lines. A superset of the rows'
 *   currencies (a run may have no line) read from a few dozen runs and the period's
 *   adjustments, never from the month rows: empty only for a part without rows. The COPY path
 *   needs their minor digits before it starts.
 *
 * Run it in the export's snapshot: the answers must be those of the rows the parts then read.
 */
export async function filePartsPlan(db: Db, q: InvoiceQuery): Promise<PlannedPart[]> {
  const parts = tenantsInFileOrder(q);
  if (parts.length === 0) return [];
  const from = `${q.month}-01`;
  const { rows } = await sql<{
    tenant_id: string;
    holds: boolean;
    closed_at: string | null;
    currencies: string[];
    base_run: string | null;
    base_currency: string | null;
    recorded: number;
  }>`
    SELECT t.id AS tenant_id,
           NOT EXISTS (
             SELECT 1 FROM runs r
             WHERE r.tenant_id = t.id AND r.is_current
               AND r.day >= ${from}::date AND r.day < ${from}::date + interval '1 month'
               AND NOT EXISTS (SELECT 1 FROM invoice_month_days d
                               WHERE d.tenant_id = r.tenant_id AND d.day = r.day AND d.run_id = r.id))
           AND NOT EXISTS (
             SELECT 1 FROM invoice_month_days d
             WHERE d.tenant_id = t.id
               AND d.day >= ${from}::date AND d.day < ${from}::date + interval '1 month'
               AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = d.run_id AND r.is_current)) AS holds,
           (SELECT p.closed_at::text FROM periods p WHERE p.tenant_id = t.id AND p.month = ${q.month}) AS closed_at,
           b.run_id AS base_run, rb.currency::text AS base_currency,
           ${recordedDaysSql(sql`t.id`, sql`${from}::date`)} AS recorded,
           ARRAY(SELECT DISTINCT c.currency::text
                 FROM (SELECT r.currency FROM runs r
                       WHERE r.tenant_id = t.id AND r.is_current
                         AND r.day >= ${from}::date AND r.day < ${from}::date + interval '1 month'
                       UNION ALL
                       SELECT a.currency FROM adjustment_lines a
                       WHERE a.tenant_id = t.id AND a.period = ${q.month}) c
                 ORDER BY 1) AS currencies
    FROM unnest(${parts.map((p) => p.tenantId)}::text[]) AS t(id)
    LEFT JOIN invoice_month_bases b ON b.tenant_id = t.id AND b.month = ${q.month}
    LEFT JOIN runs rb ON rb.id = b.run_id`.execute(db);
  const byTenant = new Map(rows.map((r) => [r.tenant_id, r]));
  return parts.map((p) => {
    const r = byTenant.get(p.tenantId);
    if (r === undefined) throw new Error(`invoice CSV: no plan row for tenant "${p.tenantId}"`);
    const base =
      r.base_run === null ? null : { runId: r.base_run, currency: r.base_currency ?? '', days: r.recorded };
    return { ...p, fromLines: r.holds !== true, closedAt: r.closed_at, currencies: r.currencies, base };
  });
}

/** A part of the file as `filePartsPlan` reads it. */
export interface PlannedPart extends TenantMonth {
  currencies: string[];
}

/** The tenants of a file in its order: tenant ids by UTF-8 bytes (code points). */
function tenantsInFileOrder(q: InvoiceQuery): (TenantPeriodEnd & { month: string })[] {
  return q.tenants
    .map((t) => ({ ...t, month: q.month }))
    .sort((a, b) => compareCodePoints(a.tenantId, b.tenantId));
}

/**
 * Streams the invoice rows in file order, `chunkSize` rows at a time, through a server-side
 * cursor (`DECLARE … CURSOR` + `FETCH`) inside one read-only repeatable-read transaction: the
 * whole file comes from one snapshot and never more than one chunk is held in memory. Plain SQL
 * cursors rather than kysely's `.stream()`, which needs the `pg-cursor` package; they work the
 * same on PostgreSQL and on the embedded PGlite. Takes the database (not a transaction): it
 * holds one connection until the iteration ends, and releases it also when the consumer stops
 * early or throws.
 */
export async function* streamInvoiceRows(
  db: Db,
  q: InvoiceQuery,
  chunkSize = 1000,
): AsyncGenerator<InvoiceRow[]> {
  if (!Number.isInteger(chunkSize) || chunkSize < 1)
    throw new RangeError(`chunkSize must be a positive integer`);
  if (q.tenants.length === 0) return;
  const trx = await db
    .startTransaction()
    .setIsolationLevel('repeatable read')
    .setAccessMode('read only')
    .execute();
  let done = false;
  try {
    // A cursor is planned for its first rows by default; the export reads all of them, so plan
    // it like the COPY of the same query (hash aggregate and one sort instead of nested loops).
    await sql`SET LOCAL cursor_tuple_fraction = 1`.execute(trx);
    await tuneForExport(trx);
    const fetch = sql<RawInvoiceRow>`FETCH FORWARD ${sql.raw(String(chunkSize))} FROM invoice_rows`;
    for (const t of await filePartsPlan(trx, q)) {
      await sql`DECLARE invoice_rows NO SCROLL CURSOR FOR ${invoiceRowsQuery(t)}`.execute(trx);
      for (;;) {
        const { rows } = await fetch.execute(trx);
        if (rows.length > 0) yield rows.map(toInvoiceRow);
        if (rows.length < chunkSize) break;
      }
      await sql`CLOSE invoice_rows`.execute(trx);
    }
    await trx.commit().execute();
    done = true;
  } finally {
    // A rollback that fails too (connection lost) must not hide the error that got us here.
    if (!done)
      await trx
        .rollback()
        .execute()
        .catch(() => {});
  }
}
