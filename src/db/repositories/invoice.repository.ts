import { CompiledQuery, type RawBuilder, sql } from 'kysely';
import { to as copyTo } from 'pg-copy-streams';
import { type Minor, parseMinor } from '../../domain/money.ts';
import { CopyBinaryReader, type CopyTuple } from '../copy-binary.ts';
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
  /** First and last calendar day of the month (`YYYY-MM-DD`). */
  firstDay: string;
  lastDay: string;
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

/**
 * The one aggregate query behind the invoice CSV, rows already in the file's order (tenant,
 * user, item, billing, first day by UTF-8 bytes: every text key is compared `COLLATE "C"`).
 *
 * - Charge rows: the lines of the current runs of the month's days, one row per (tenant, user,
 *   item, billing, unit price). `count(*)` is the number of distinct days: a tenant-day has at
 *   most one current run (unique partial index) and a run at most one line per (user, item)
 *   (primary key), so no day can repeat inside a group. That keeps the aggregate hashable
 *   (`count(DISTINCT)` would force a sort of every line).
 * - Adjustment rows: adjustment lines invoiced in this period, one row per (tenant, user, item,
 *   billing); several adjustment runs may correct the same day, hence `count(DISTINCT day)`.
 * - Names: the user's latest version (active or not) effective before the tenant's period
 *   end; for a closed period only versions imported by the time it was closed.
 *
 * Also used verbatim by the export benchmark as `COPY (…) TO STDOUT`.
 */
export function invoiceRowsQuery(q: InvoiceQuery): RawBuilder<RawInvoiceRow> {
  return invoiceQuery<RawInvoiceRow>(
    q,
    sql`g.tenant_id, g.user_id, n.last_name, n.email, g.item, g.billing, g.quantity,
        g.unit_price::text AS unit_price, g.amount::text AS amount, g.currency::text AS currency,
        g.first_day, g.last_day`,
    sql``,
  );
}

/** The one query's body with `select` as its select list and `from` joined after the names. */
function invoiceQuery<R>(
  q: InvoiceQuery,
  select: RawBuilder<unknown>,
  from: RawBuilder<unknown>,
): RawBuilder<R> {
  const ids = q.tenants.map((t) => t.tenantId);
  const ends = q.tenants.map((t) => t.periodEnd.toISOString());
  return sql<R>`
    WITH bounds AS (
      SELECT b.tenant_id, b.period_end, p.closed_at
      FROM unnest(${ids}::text[], ${ends}::timestamptz[]) AS b (tenant_id, period_end)
      LEFT JOIN periods p ON p.tenant_id = b.tenant_id AND p.month = ${q.month}
    ),
    grouped AS (
      SELECT r.tenant_id, l.user_id, l.item, l.billing, l.unit_price, count(*)::int AS quantity,
             sum(l.amount) AS amount, r.currency, min(r.day) AS first_day, max(r.day) AS last_day
      FROM runs r
      JOIN charge_lines l ON l.run_id = r.id
      WHERE r.is_current AND r.day BETWEEN ${q.firstDay}::date AND ${q.lastDay}::date
        AND r.tenant_id = ANY (${ids}::text[])
      GROUP BY r.tenant_id, l.user_id, l.item, l.billing, l.unit_price, r.currency
      UNION ALL
      SELECT a.tenant_id, a.user_id, a.item, a.billing, NULL, count(DISTINCT a.day)::int,
             sum(a.amount), a.currency, min(a.day), max(a.day)
      FROM adjustment_lines a
      WHERE a.period = ${q.month} AND a.tenant_id = ANY (${ids}::text[])
      GROUP BY a.tenant_id, a.user_id, a.item, a.billing, a.currency
    )
    SELECT ${select}
    FROM grouped g
    JOIN bounds b ON b.tenant_id = g.tenant_id
    LEFT JOIN LATERAL (
      SELECT v.last_name, v.email
      FROM settings_versions v
      WHERE v.tenant_id = g.tenant_id AND v.user_id = g.user_id AND v.effective_at < b.period_end
        AND (b.closed_at IS NULL OR v.imported_at <= b.closed_at)
      ORDER BY v.effective_at DESC
      LIMIT 1
    ) n ON true
    ${from}
    ORDER BY g.tenant_id COLLATE "C", g.user_id COLLATE "C", g.item COLLATE "C", g.billing COLLATE "C",
             g.first_day, g.unit_price`;
}

/** Minor digits per currency, for formatting amounts in SQL. */
export interface CurrencyDigits {
  currencies: readonly string[];
  digits: readonly number[];
}

/** Rule "CSV cell" (`csvCell` in src/export/csv.ts): quoted when it holds `,` `"` CR or LF, `"` doubled. */
const csvCellSql = (x: RawBuilder<unknown>) =>
  sql`CASE WHEN ${x} ~ E'[",\\r\\n]' THEN '"' || replace(${x}, '"', '""') || '"' ELSE ${x} END`;

/** Rule "formula guard" (`guardFormula` in src/export/csv.ts): a leading `'` before = + - @ TAB CR. */
const guardSql = (x: RawBuilder<unknown>) =>
  sql`CASE WHEN left(${x}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r') THEN '''' || ${x} ELSE ${x} END`;

/** Rule "money" (`moneyFormatter` in src/export/money-format.ts): major units, exactly `d` minor digits. */
const moneySql = (a: RawBuilder<unknown>) =>
  sql`CASE WHEN m.d = 0 THEN ${a}::text
      ELSE CASE WHEN ${a} < 0 THEN '-' ELSE '' END || (abs(${a}) / m.p)::text || '.' || lpad((abs(${a}) % m.p)::text, m.d, '0')
      END`;

/**
 * The invoice CSV records themselves, formatted by the database, in file order: one row per
 * record with the record's bytes (`record`, CRLF included; NULL when a row's currency is not in
 * `money`), its `amount` (bigint, minor units) and `currency`. The same rules as
 * `invoiceRecord` (src/export/invoice-csv.ts), which stays the reference:
 * test/integration/export.test.ts compares the two byte for byte on every fixture. Only real
 * PostgreSQL streams it (`copyInvoiceCsv`); the period is written as given (a valid `YYYY-MM`).
 */
export function invoiceCsvQuery(q: InvoiceQuery, money: CurrencyDigits): RawBuilder<unknown> {
  const c = (name: string) => csvCellSql(sql.ref(name));
  return invoiceQuery(
    q,
    sql`${q.month}::text || ',' || ${c('g.tenant_id')} || ',' || ${c('f.user_id')} || ',' || ${c('f.last_name')}
        || ',' || ${c('f.email')} || ',' || ${c('g.item')} || ',' || ${c('g.billing')} || ',' || g.quantity::text
        || ',' || coalesce(${moneySql(sql`g.unit_price`)}, '') || ',' || ${moneySql(sql`f.amount`)}
        || ',' || ${c('f.currency')} || ',' || g.first_day::text || ',' || g.last_day::text || E'\\r\\n' AS record,
        f.amount, f.currency`,
    sql`CROSS JOIN LATERAL (
      SELECT ${guardSql(sql`g.user_id`)} AS user_id,
             ${guardSql(sql`coalesce(n.last_name, '')`)} AS last_name,
             ${guardSql(sql`coalesce(n.email, '')`)} AS email,
             g.amount::bigint AS amount, g.currency::text AS currency
    ) f
    LEFT JOIN LATERAL (
      SELECT m.d, (10::bigint ^ m.d)::bigint AS p
      FROM unnest(${money.currencies}::text[], ${money.digits}::int[]) AS m (currency, d)
      WHERE m.currency = f.currency
    ) m ON true`,
  );
}

/**
 * Streams the invoice CSV records of `invoiceCsvQuery` by `COPY … TO STDOUT (FORMAT binary)` in
 * one read-only repeatable-read transaction (real PostgreSQL only: the embedded PGlite keeps
 * the cursor of `streamInvoiceRows`). `onTuple` gets each row's fields as views valid only
 * during the call; `afterChunk` runs between the server's chunks and may wait (backpressure).
 */
export async function copyInvoiceCsv(
  db: Db,
  q: InvoiceQuery,
  money: CurrencyDigits,
  onTuple: (fields: CopyTuple) => void,
  afterChunk: () => Promise<void>,
): Promise<void> {
  if (q.tenants.length === 0) return;
  await inReadOnlySnapshot(db, async (trx) => {
    const compiled = sql`COPY (${invoiceCsvQuery(q, money)}) TO STDOUT (FORMAT binary)`.compile(trx);
    const stream = copyTo(inlineParameters(compiled.sql, compiled.parameters));
    // As on the COPY FROM path (login-event-copy.repository.ts): pg runs any object with
    // `submit` on the transaction's own connection; the rows then come through the stream.
    await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
    const reader = new CopyBinaryReader();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      reader.push(chunk, onTuple);
      await afterChunk();
    }
    reader.end();
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
    await sql`DECLARE invoice_rows NO SCROLL CURSOR FOR ${invoiceRowsQuery(q)}`.execute(trx);
    const fetch = sql<RawInvoiceRow>`FETCH FORWARD ${sql.raw(String(chunkSize))} FROM invoice_rows`;
    for (;;) {
      const { rows } = await fetch.execute(trx);
      if (rows.length > 0) yield rows.map(toInvoiceRow);
      if (rows.length < chunkSize) break;
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
