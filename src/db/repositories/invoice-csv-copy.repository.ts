import { CompiledQuery, type RawBuilder, sql } from 'kysely';
import { type CurrencyTotal, PartTotals } from '../copy-part-totals.ts';
import { CopyRowsOut } from '../copy-rows-out.ts';
import type { Db } from '../database.ts';
import { inlineParameters } from '../query-script.ts';
import { inReadOnlySnapshot } from '../transaction.ts';
import { tuneForExport } from './export-planner-settings.ts';
import { filePartsPlan, type InvoiceQuery, invoiceQuery, type TenantMonth } from './invoice.repository.ts';

/*
 * The invoice CSV on real PostgreSQL: the cells computed by the export's one query
 * (`invoiceQuery`) and written by `COPY … TO STDOUT (FORMAT csv)`, read off the socket.
 */

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
 * The cells of the invoice CSV, computed by the database, in file order, for
 * `COPY (…) TO STDOUT (FORMAT csv)`: COPY's own CSV writer does the quoting. It quotes a field
 * exactly when it holds the delimiter `,`, the quote `"`, CR or LF, and doubles `"`: the rule of
 * `csvCell` (src/export/csv.ts), except that it quotes an empty string, so every cell that may be
 * empty is NULL instead (`cellSql`). COPY ends records with LF; `CopyRowsOut` makes them CRLF.
 * What is left to compute here: the formula guard on user id, last name and e-mail. The two
 * money cells (unit price, amount) are sent as minor units and written in major units by the
 * reader (`PartTotals.format`, the rule of `moneyFormatter`): a numeric per cell cost the
 * database ~10% of the statement. The same rules as `invoiceRecord`
 * (src/export/invoice-csv.ts), which stays the reference: test/integration/export.test.ts
 * compares the two byte for byte.
 */
export function invoiceCsvCellsQuery(t: TenantMonth): RawBuilder<unknown> {
  return invoiceQuery(
    t,
    sql`${t.month}::text AS period, ${cellSql(sql`${t.tenantId}::text`)} AS tenant_id,
        ${cellSql(guardSql(sql`g.user_id`))} AS user_id, ${cellSql(guardSql(sql`n.last_name`))} AS last_name,
        ${cellSql(guardSql(sql`n.email`))} AS email, ${cellSql(sql`g.item`)} AS item,
        ${cellSql(sql`g.billing::text`)} AS billing, g.quantity, g.unit_price, g.amount,
        ${cellSql(sql`g.currency::text`)} AS currency, g.first_day, g.last_day`,
    sql``,
  );
}

/** A tenant's part of the file as COPY streams it, and what the part adds up to. */
export interface InvoiceCsvPart {
  /** The part's CSV records in blocks (`CopyRowsOut`), each record ended by `rowEnd`. */
  blocks: AsyncIterable<Buffer>;
  /** Hands back a block once it is written: the next blocks reuse its memory (`CopyRowsOut.release`). */
  release: (block: Buffer) => void;
  /** Once the blocks are read: the records they held. */
  records: () => number;
  /** Once the blocks are read: rows and sum of `amount` per currency over the part, in currency order. */
  totals: () => readonly CurrencyTotal[];
}

/**
 * Streams the invoice CSV cells of `invoiceCsvCellsQuery` by `COPY … TO STDOUT (FORMAT csv)`,
 * tenant after tenant, in one read-only repeatable-read transaction (real PostgreSQL only: the
 * embedded PGlite keeps the cursor of `streamInvoiceRows`), read off the socket in blocks by
 * `CopyRowsOut` with each record ended by `rowEnd` instead of COPY's LF. Before the first part,
 * in the same snapshot and one statement for all the parts (`filePartsPlan`), what each part's
 * query needs and the currencies it can hold, whose minor digits `digitsOf` gives; a part
 * without any is skipped. The part's money cells are written in major units and its totals
 * added up from the records as they pass (`PartTotals`). `onPart` reads the part's blocks.
 */
export async function copyInvoiceCsv(
  db: Db,
  q: InvoiceQuery,
  options: { rowEnd: string; digitsOf: (currency: string) => number; blockBytes?: number },
  onPart: (part: InvoiceCsvPart) => Promise<void>,
): Promise<void> {
  if (q.tenants.length === 0) return;
  const spare: Buffer[] = [];
  await inReadOnlySnapshot(db, async (trx) => {
    await tuneForExport(trx);
    for (const t of await filePartsPlan(trx, q)) {
      const { currencies } = t;
      if (currencies.length === 0) continue;
      const totals = new PartTotals(currencies, options.digitsOf);
      const compiled = sql`COPY (${invoiceCsvCellsQuery(t)}) TO STDOUT (FORMAT csv)`.compile(trx);
      const copy = new CopyRowsOut(inlineParameters(compiled.sql, compiled.parameters), {
        rowEnd: options.rowEnd,
        ...(options.blockBytes === undefined ? {} : { blockBytes: options.blockBytes }),
        formatRow: totals.format,
        spare,
      });
      // As on the COPY FROM path (login-event-copy.repository.ts): pg runs any object with
      // `submit` on the transaction's own connection; the rows then come through `copy`.
      await trx.executeQuery({ ...CompiledQuery.raw(''), sql: copy as unknown as string });
      await onPart({
        blocks: copy.blocks(),
        release: (block) => copy.release(block),
        records: () => copy.rows,
        totals: () => totals.totals(),
      });
    }
  });
}
