import { CompiledQuery, type RawBuilder, sql } from 'kysely';
import { compareCodePoints } from '../../domain/code-point-order.ts';
import { type Minor, parseMinor } from '../../domain/money.ts';
import { CopyRowsOut } from '../copy-rows-out.ts';
import type { Db } from '../database.ts';
import { inReadOnlySnapshot } from '../transaction.ts';

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

/** One tenant's part of the file: the month and where the tenant's period ends. */
export interface TenantMonth extends TenantPeriodEnd {
  /** `YYYY-MM`. */
  month: string;
  /**
   * Group the month's current lines here instead of reading `invoice_month_rows`: for a month
   * whose rows do not hold its current runs (`monthRowsHoldCurrentRuns` is false).
   */
  fromLines?: boolean;
  /**
   * The period's `closed_at` as PostgreSQL writes it (microseconds kept), `null` while it is
   * open; read in the export's snapshot by `periodClosedAtText`. Given, it is a literal of the
   * query, so the planner knows that (nearly) every version passes the import cut-off and reads
   * the names through the versions' primary key in order; left out, the query reads it itself
   * (a sub-select, whose unknown value the planner guesses keeps a third of the versions: it then
   * sorts them all instead, spilling to disk at 200,000 users).
   */
  closedAt?: string | null;
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
 *   the tenant's versions in primary-key order (user, effective_at), keeping each user's last
 *   (`lead`), merged with the rows by user: no lookup and no sort per row. The import cut-off is
  a literal when the caller read it first (`closedAt`): only then does the planner see that
  the primary key's order costs less than a sort of every version.
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

/** The charge rows as billing keeps them, in file order from the primary key (+ Incremental Sort). */
const monthRows = (t: TenantMonth) => sql`
  (SELECT m.user_id, m.item, m.billing, m.unit_price, m.quantity, m.amount, m.currency, m.first_day, m.last_day
   FROM invoice_month_rows m
   WHERE m.tenant_id = ${t.tenantId}::text AND m.month = ${t.month}::text
   ORDER BY m.user_id, m.item, m.billing, m.first_day, m.unit_price)`;

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
 * Whether `invoice_month_rows` of the tenant-month holds exactly its current runs: every current
 * run of the month is the run `invoice_month_days` records for its day, and no recorded run has
 * stopped being current. Billing keeps both in each run's transaction, so this is false only for
 * runs made or superseded by hand (SQL seeds, repairs); the export then groups the lines itself.
 */
export async function monthRowsHoldCurrentRuns(db: Db, t: TenantMonth): Promise<boolean> {
  const from = `${t.month}-01`;
  const { rows } = await sql<{ ok: boolean }>`
    SELECT NOT EXISTS (
             SELECT 1 FROM runs r
             WHERE r.tenant_id = ${t.tenantId}::text AND r.is_current
               AND r.day >= ${from}::date AND r.day < ${from}::date + interval '1 month'
               AND NOT EXISTS (SELECT 1 FROM invoice_month_days d
                               WHERE d.tenant_id = r.tenant_id AND d.day = r.day AND d.run_id = r.id))
       AND NOT EXISTS (
             SELECT 1 FROM invoice_month_days d
             WHERE d.tenant_id = ${t.tenantId}::text
               AND d.day >= ${from}::date AND d.day < ${from}::date + interval '1 month'
               AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = d.run_id AND r.is_current)) AS ok`.execute(
    db,
  );
  return rows[0]?.ok === true;
}

/**
 * The rows of one tenant's part before the names, unordered as a whole: the charge rows (month
 * rows, or the month's current lines grouped) and the adjustment rows, with the same columns
 * (user_id, item, billing, unit_price, quantity, amount, currency, first_day, last_day).
 */
const partRows = (t: TenantMonth) => sql`
  ${t.fromLines ? groupedLines(t) : monthRows(t)}
  UNION ALL
  SELECT a.user_id, a.item, a.billing COLLATE "C", NULL::bigint, count(DISTINCT a.day)::int,
         sum(a.amount)::bigint, a.currency, min(a.day), max(a.day)
  FROM adjustment_lines a
  WHERE a.tenant_id = ${t.tenantId}::text AND a.period = ${t.month}
  GROUP BY a.user_id, a.item, a.billing, a.currency`;

/** The names' import cut-off: versions imported by the time the period closed (if it is closed). */
function importCutoff(t: TenantMonth): RawBuilder<unknown> {
  if (t.closedAt === undefined)
    return sql`AND v.imported_at <= coalesce((SELECT p.closed_at FROM periods p
                                              WHERE p.tenant_id = ${t.tenantId}::text AND p.month = ${t.month}), 'infinity')`;
  return t.closedAt === null ? sql`` : sql`AND v.imported_at <= ${t.closedAt}::timestamptz`;
}

/**
 * The tenant's `closed_at` for the month as text (microseconds kept: a JS Date would cut them and
 * could drop a version imported in the closing millisecond), `null` while the period is open.
 */
export async function periodClosedAtText(db: Db, t: TenantMonth): Promise<string | null> {
  const { rows } = await sql<{ closed_at: string }>`
    SELECT p.closed_at::text AS closed_at FROM periods p
    WHERE p.tenant_id = ${t.tenantId}::text AND p.month = ${t.month}`.execute(db);
  return rows[0]?.closed_at ?? null;
}

/** The one query's body with `select` as its select list and `from` joined after the names. */
function invoiceQuery<R>(
  t: TenantMonth,
  select: RawBuilder<unknown>,
  from: RawBuilder<unknown>,
): RawBuilder<R> {
  return sql<R>`
    SELECT ${select}
    FROM (${partRows(t)}) g
    LEFT JOIN (
      SELECT v.user_id, v.last_name, v.email
      FROM (
        SELECT v.user_id, v.last_name, v.email, lead(v.user_id) OVER (ORDER BY v.user_id, v.effective_at) AS next_user
        FROM settings_versions v
        WHERE v.tenant_id = ${t.tenantId}::text AND v.effective_at < ${t.periodEnd.toISOString()}::timestamptz
          ${importCutoff(t)}
      ) v
      WHERE v.next_user IS DISTINCT FROM v.user_id
    ) n ON n.user_id = g.user_id
    ${from}
    ORDER BY g.user_id COLLATE "C", g.item COLLATE "C", g.billing COLLATE "C", g.first_day, g.unit_price`;
}

/** One currency's share of a tenant's part: its rows and the sum of their `amount` (minor units). */
export interface CurrencyTotal {
  currency: string;
  rows: number;
  amount: Minor;
}

/**
 * The currencies a tenant's part can hold, in code order: those of the month's current runs
 * (whose lines the charge rows are, `monthRowsHoldCurrentRuns` or grouped) and of the period's
 * adjustment lines. A superset of the rows' currencies (a run may have no line) read from a
 * few dozen runs and the period's adjustments, never from the month rows: empty only for a
 * part without rows. The COPY path needs their minor digits before it starts.
 */
export async function partCurrencies(db: Db, t: TenantMonth): Promise<string[]> {
  const from = `${t.month}-01`;
  const { rows } = await sql<{ currency: string }>`
    SELECT DISTINCT c.currency::text AS currency
    FROM (SELECT r.currency FROM runs r
          WHERE r.tenant_id = ${t.tenantId}::text AND r.is_current
            AND r.day >= ${from}::date AND r.day < ${from}::date + interval '1 month'
          UNION ALL
          SELECT a.currency FROM adjustment_lines a
          WHERE a.tenant_id = ${t.tenantId}::text AND a.period = ${t.month}) c
    ORDER BY 1`.execute(db);
  return rows.map((r) => r.currency);
}

const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * The rows and the sum of `amount` per currency of one part, read off the CSV records COPY
 * sends (`CopyRowsOut`'s `onRowEnd`): the file's own bytes, so the totals are those of the file,
 * and no second read of the month rows. A record of `invoiceCsvCellsQuery` ends with
 * `amount,currency,first_day,last_day`, four cells COPY never quotes (a numeric, a currency code,
 * two dates: no comma, quote, CR or LF), so its last four commas delimit them. The amount is
 * major units with exactly the currency's minor digits (`moneySql`): its digits without the
 * point are the minor units. Anything else is refused, never guessed at.
 */
export class PartTotals {
  readonly #digits: ReadonlyMap<string, number>;
  readonly #totals: { code: Buffer; digits: number; rows: number; amount: number }[] = [];
  #last: { code: Buffer; digits: number; rows: number; amount: number } | undefined;

  constructor(digits: ReadonlyMap<string, number>) {
    this.#digits = digits;
  }

  /** A `RowEndHook`: adds the record whose last bytes are `bytes[from, to)`. */
  readonly add = (bytes: Buffer, from: number, to: number): void => {
    // The last four commas: before last_day, first_day, currency and amount.
    let c1 = to - 1;
    while (c1 >= from && bytes[c1] !== COMMA) c1--;
    let c2 = c1 - 1;
    while (c2 >= from && bytes[c2] !== COMMA) c2--;
    let c3 = c2 - 1;
    while (c3 >= from && bytes[c3] !== COMMA) c3--;
    let c4 = c3 - 1;
    while (c4 >= from && bytes[c4] !== COMMA) c4--;
    if (c4 < from) throw this.#refuse(bytes, from, to);
    let total = this.#last;
    if (
      total === undefined ||
      c2 - c3 !== 4 ||
      total.code[0] !== bytes[c3 + 1] ||
      total.code[1] !== bytes[c3 + 2] ||
      total.code[2] !== bytes[c3 + 3]
    )
      total = this.#currency(bytes, c3 + 1, c2, from, to);
    // The amount: [-]digits[.digits], exactly `digits` decimals.
    let at = c4 + 1;
    const negative = bytes[at] === MINUS;
    if (negative) at++;
    let minor = 0;
    let decimals = -1;
    if (at === c3) throw this.#refuse(bytes, from, to);
    for (; at < c3; at++) {
      const b = bytes[at] as number;
      if (b >= ZERO && b <= NINE) {
        minor = minor * 10 + (b - ZERO);
        if (decimals >= 0) decimals++;
      } else if (b === DOT && decimals < 0) decimals = 0;
      else throw this.#refuse(bytes, from, to);
    }
    if (Math.max(decimals, 0) !== total.digits || !Number.isSafeInteger(minor))
      throw this.#refuse(bytes, from, to);
    total.amount += negative ? -minor : minor;
    if (!Number.isSafeInteger(total.amount))
      throw new RangeError(
        `invoice CSV: the total of ${total.code.toString('latin1')} is not a safe integer`,
      );
    total.rows++;
    this.#last = total;
  };

  #currency(bytes: Buffer, from: number, to: number, rowFrom: number, rowTo: number) {
    const code = bytes.toString('latin1', from, to);
    const found = this.#totals.find((c) => c.code.toString('latin1') === code);
    if (found) return found;
    const digits = this.#digits.get(code);
    if (digits === undefined) throw this.#refuse(bytes, rowFrom, rowTo);
    const added = { code: Buffer.from(code, 'latin1'), digits, rows: 0, amount: 0 };
    this.#totals.push(added);
    return added;
  }

  #refuse(bytes: Buffer, from: number, to: number): Error {
    return new Error(
      `invoice CSV: a record COPY sent does not end with amount,currency,first_day,last_day as expected: …${bytes.toString('utf8', from, to)}`,
    );
  }

  /** Rows and sum of `amount` per currency so far, in currency order, currencies without rows left out. */
  totals(): CurrencyTotal[] {
    return this.#totals
      .map((c) => ({
        currency: c.code.toString('latin1'),
        rows: c.rows,
        amount: c.amount === 0 ? 0 : c.amount,
      }))
      .sort((a, b) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0));
  }
}

/** The tenants of a file in its order: tenant ids by UTF-8 bytes (code points). */
export function tenantsInFileOrder(q: InvoiceQuery): TenantMonth[] {
  return q.tenants
    .map((t) => ({ ...t, month: q.month }))
    .sort((a, b) => compareCodePoints(a.tenantId, b.tenantId));
}

/**
 * Rule "formula guard" (`guardFormula` in src/export/csv.ts): a leading `'` before = + - @ TAB CR
 * (`ascii` is the first character's code point, 0 for ''; cheaper than comparing `left(x, 1)`).
 */
const guardSql = (x: RawBuilder<unknown>) =>
  sql`CASE WHEN ascii(${x}) IN (61, 43, 45, 64, 9, 13) THEN '''' || ${x} ELSE ${x} END`;

/**
 * A text cell for `COPY … (FORMAT csv)`: NULL when empty. COPY writes NULL as a bare empty field
 * but quotes an empty string (`""`, to tell it from NULL); the file's empty cells are bare
 * (`csvCell('')` is `''`).
 */
const cellSql = (x: RawBuilder<unknown>) => sql`nullif(${x}, '')`;

/**
 * Rule "money" (`moneyFormatter` in src/export/money-format.ts): the minor units times 10^-d as a
 * numeric, whose text has exactly d decimals (a product's scale is the sum of the scales, 0 + d),
 * `-` for negatives, no grouping and never `-0` (numeric has no negative zero). `unit` is 10^-d
 * written out (`minorUnitLiteral`) or an expression giving it per row.
 */
const moneySql = (minor: RawBuilder<unknown>, unit: RawBuilder<unknown>) => sql`(${minor} * ${unit})`;

/** 10^-digits as a numeric literal with exactly `digits` decimals: 0 -> `1`, 2 -> `0.01`. */
export function minorUnitLiteral(digits: number): string {
  if (!Number.isInteger(digits) || digits < 0 || digits > 20)
    throw new RangeError(`minor digits must be an integer 0..20, not ${digits}`);
  return digits === 0 ? '1' : `0.${'0'.repeat(digits - 1)}1`;
}

/**
 * The cells of the invoice CSV, computed by the database, in file order, for
 * `COPY (…) TO STDOUT (FORMAT csv)`: COPY's own CSV writer does the quoting. It quotes a field
 * exactly when it holds the delimiter `,`, the quote `"`, CR or LF, and doubles `"`: the rule of
 * `csvCell` (src/export/csv.ts), except that it quotes an empty string, so every cell that may be
 * empty is NULL instead (`cellSql`). COPY ends records with LF; `CopyRowsOut` makes them CRLF.
 * What is left to compute here: the formula guard on user id, last name and e-mail, and the
 * amounts in major units with the minor digits of their currency (`digits`: every currency of
 * the part's rows). The same rules as `invoiceRecord` (src/export/invoice-csv.ts), which stays
 * the reference: test/integration/export.test.ts compares the two byte for byte.
 */
export function invoiceCsvCellsQuery(
  t: TenantMonth,
  digits: ReadonlyMap<string, number>,
): RawBuilder<unknown> {
  const codes = [...digits];
  // One currency (the usual part): 10^-d is a constant of the statement; else looked up per row.
  const unit =
    codes.length === 1
      ? sql.raw(minorUnitLiteral(codes[0]?.[1] as number))
      : sql`CASE g.currency::text ${sql.join(
          codes.map(([code, d]) => sql`WHEN ${code}::text THEN ${sql.raw(minorUnitLiteral(d))}`),
          sql` `,
        )} END`;
  return invoiceQuery(
    t,
    sql`${t.month}::text AS period, ${cellSql(sql`${t.tenantId}::text`)} AS tenant_id,
        ${cellSql(guardSql(sql`g.user_id`))} AS user_id, ${cellSql(guardSql(sql`n.last_name`))} AS last_name,
        ${cellSql(guardSql(sql`n.email`))} AS email, ${cellSql(sql`g.item`)} AS item,
        ${cellSql(sql`g.billing::text`)} AS billing, g.quantity,
        ${moneySql(sql`g.unit_price`, unit)} AS unit_price, ${moneySql(sql`g.amount`, unit)} AS amount,
        ${cellSql(sql`g.currency::text`)} AS currency, g.first_day, g.last_day`,
    sql``,
  );
}

/** A tenant's part of the file as COPY streams it, and what the part adds up to. */
export interface InvoiceCsvPart {
  /** The part's CSV records in blocks (`CopyRowsOut`), each record ended by `rowEnd`. */
  blocks: AsyncIterable<Buffer>;
  /** Once the blocks are read: the records they held. */
  records: () => number;
  /** Once the blocks are read: rows and sum of `amount` per currency over the part, in currency order. */
  totals: () => readonly CurrencyTotal[];
}

/**
 * Streams the invoice CSV cells of `invoiceCsvCellsQuery` by `COPY … TO STDOUT (FORMAT csv)`,
 * tenant after tenant, in one read-only repeatable-read transaction (real PostgreSQL only: the
 * embedded PGlite keeps the cursor of `streamInvoiceRows`), read off the socket in blocks by
 * `CopyRowsOut` with each record ended by `rowEnd` instead of COPY's LF. Before each part, in the
 * same snapshot, the currencies it can hold (`partCurrencies`), whose minor digits `digitsOf`
 * gives; a part without any is skipped. The part's totals are added up from the records as they
 * pass (`PartTotals`). `onPart` reads the part's blocks.
 */
export async function copyInvoiceCsv(
  db: Db,
  q: InvoiceQuery,
  options: { rowEnd: string; digitsOf: (currency: string) => number; blockBytes?: number },
  onPart: (part: InvoiceCsvPart) => Promise<void>,
): Promise<void> {
  if (q.tenants.length === 0) return;
  await inReadOnlySnapshot(db, async (trx) => {
    for (const month of tenantsInFileOrder(q)) {
      const t = {
        ...month,
        fromLines: !(await monthRowsHoldCurrentRuns(trx, month)),
        closedAt: await periodClosedAtText(trx, month),
      };
      const currencies = await partCurrencies(trx, t);
      if (currencies.length === 0) continue;
      const digits = new Map(currencies.map((c) => [c, options.digitsOf(c)]));
      const totals = new PartTotals(digits);
      const compiled = sql`COPY (${invoiceCsvCellsQuery(t, digits)}) TO STDOUT (FORMAT csv)`.compile(trx);
      const copy = new CopyRowsOut(inlineParameters(compiled.sql, compiled.parameters), {
        ...options,
        onRowEnd: totals.add,
      });
      // As on the COPY FROM path (login-event-copy.repository.ts): pg runs any object with
      // `submit` on the transaction's own connection; the rows then come through `copy`.
      await trx.executeQuery({ ...CompiledQuery.raw(''), sql: copy as unknown as string });
      await onPart({ blocks: copy.blocks(), records: () => copy.rows, totals: () => totals.totals() });
    }
  });
}

/**
 * The statement with its parameters written as literals: COPY takes no bind parameters. Values
 * are strings, numbers or arrays of them; every string becomes a quoted literal with `'`
 * doubled (standard_conforming_strings is on, the default since PostgreSQL 9.1).
 */
export function inlineParameters(text: string, parameters: readonly unknown[]): string {
  const literal = (v: unknown): string => {
    if (Array.isArray(v)) return `ARRAY[${v.map(literal).join(',')}]`;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    return `'${String(v).replaceAll("'", "''")}'`;
  };
  return text.replace(/\$(\d+)\b/g, (_, n: string) => literal(parameters[Number(n) - 1]));
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
    const fetch = sql<RawInvoiceRow>`FETCH FORWARD ${sql.raw(String(chunkSize))} FROM invoice_rows`;
    for (const month of tenantsInFileOrder(q)) {
      const t = {
        ...month,
        fromLines: !(await monthRowsHoldCurrentRuns(trx, month)),
        closedAt: await periodClosedAtText(trx, month),
      };
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

/** Whether the server streams `COPY … TO STDOUT`: real PostgreSQL does, the embedded PGlite is read by cursor. */
export async function canCopyOut(db: Db): Promise<boolean> {
  const { rows } = await sql<{ v: string }>`SELECT version() AS v`.execute(db);
  return !String(rows[0]?.v).includes('PGlite');
}
