import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Db } from '../db/database.ts';
import {
  type InvoiceQuery,
  type InvoiceRow,
  streamInvoiceRows,
  type TenantPeriodEnd,
} from '../db/repositories/invoice.repository.ts';
import { copyInvoiceCsv } from '../db/repositories/invoice-csv-copy.repository.ts';
import { streamsCopy } from '../db/repositories/server-kind.repository.ts';
import { findTenant, listTenants } from '../db/repositories/tenant.repository.ts';
import { isValidMonth, loadTimeZoneData, type Month, monthBounds } from '../domain/calendar.ts';
import { type Minor, minorDigits, sumMinor } from '../domain/money.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { CRLF, csvRecord, guardFormula } from './csv.ts';
import { MoneyFormatters } from './money-format.ts';

/** The columns of the invoice CSV, in order (`docs/billing.md`, Invoice CSV). */
export const INVOICE_COLUMNS = [
  'period',
  'tenant_id',
  'user_id',
  'user_last_name',
  'user_email',
  'item',
  'billing',
  'quantity',
  'unit_price',
  'amount',
  'currency',
  'first_day',
  'last_day',
] as const;

/** The header record, CRLF included. */
export const INVOICE_HEADER = INVOICE_COLUMNS.join(',') + CRLF;

/**
 * One invoice row as a CSV record (CRLF included). Amounts are minor units, written in major
 * units with the currency's minor digits; `unitPrice` null (adjustment rows) is an empty cell;
 * the free-text cells (user id, last name, email) pass the formula guard before quoting.
 */
export function invoiceRecord(period: Month, row: InvoiceRow, money: MoneyFormatters): string {
  return csvRecord([
    period,
    row.tenantId,
    guardFormula(row.userId),
    guardFormula(row.lastName ?? ''),
    guardFormula(row.email ?? ''),
    row.item,
    row.billing,
    String(row.quantity),
    row.unitPrice === null ? '' : money.format(row.unitPrice, row.currency),
    money.format(row.amount, row.currency),
    row.currency,
    row.firstDay,
    row.lastDay,
  ]);
}

export interface InvoiceExportInput {
  month: Month;
  /** One tenant; all tenants when absent. */
  tenantId?: string | undefined;
  /** Cursor path: rows fetched per round trip, the most the export holds in memory (COPY sends its own chunks). */
  chunkSize?: number;
  /**
   * Sees every row as it is written (e.g. to build a summary without reading the file back).
   * Parsed rows only exist on the cursor path: given it, the export reads by cursor also on
   * real PostgreSQL.
   */
  onRow?: (row: InvoiceRow) => void;
  /** Told how many rows were written, after each chunk (a progress bar). */
  onRows?: (rows: number) => void;
}

export interface InvoiceExportResult {
  rows: number;
  /** Sum of `amount` over the file per currency, minor units. */
  totals: Map<string, Minor>;
}

async function tenantsToExport(db: Db, tenantId: string | undefined): Promise<Tenant[]> {
  if (tenantId === undefined) return listTenants(db);
  const tenant = await findTenant(db, tenantId);
  if (!tenant) throw new InputError(`unknown tenant "${tenantId}"`);
  return [tenant];
}

/**
 * Writes the invoice CSV of `month` (for one tenant or all) to `out`: header, then one record
 * per row in file order, streamed chunk by chunk with backpressure (on PostgreSQL the records
 * as the database formats them, by COPY; else rows from a server-side cursor formatted here),
 * so memory stays bounded whatever the month's size. Does not end `out`. Each tenant's period
 * ends at its own local month end (`monthBounds`), which decides the names shown.
 */
export async function writeInvoiceCsv(
  db: Db,
  input: InvoiceExportInput,
  out: Writable,
): Promise<InvoiceExportResult> {
  if (!isValidMonth(input.month)) throw new InputError(`invalid month "${input.month}": expected YYYY-MM`);
  // The time-zone data (for the period ends) loads while the first query is out: in its first
  // turn of the event loop the connection is being opened, the server starting its backend.
  const zoneData = new Promise<void>((resolve) => setImmediate(() => resolve(loadTimeZoneData())));
  const tenants = await tenantsToExport(db, input.tenantId);
  await zoneData;
  const periodEnds: TenantPeriodEnd[] = tenants.map((t) => ({
    tenantId: t.id,
    periodEnd: monthBounds(input.month, t.timezone).end,
  }));
  const query: InvoiceQuery = {
    month: input.month,
    tenants: periodEnds,
  };
  await write(out, INVOICE_HEADER);
  if (input.onRow === undefined && tenants.length > 0 && (await streamsCopy(db)))
    return copyCsv(db, query, input, out);
  const money = new MoneyFormatters();
  const totals = new Map<string, Minor>();
  let rows = 0;
  for await (const chunk of streamInvoiceRows(db, query, input.chunkSize)) {
    let text = '';
    for (const row of chunk) {
      text += invoiceRecord(input.month, row, money);
      input.onRow?.(row);
      totals.set(row.currency, sumMinor([totals.get(row.currency) ?? 0, row.amount]));
    }
    rows += chunk.length;
    await write(out, text);
    input.onRows?.(rows);
  }
  return { rows, totals };
}

/**
 * The COPY path (real PostgreSQL): the database computes the cells by the same rules as
 * `invoiceRecord` (`invoiceCsvCellsQuery`) and its `COPY … (FORMAT csv)` writer quotes them; the
 * records come off the socket in blocks with CRLF ends (`CopyRowsOut`), their two money cells
 * written in major units and the totals added up as they pass (`PartTotals`), with backpressure.
 */
async function copyCsv(
  db: Db,
  query: InvoiceQuery,
  input: InvoiceExportInput,
  out: Writable,
): Promise<InvoiceExportResult> {
  const totals = new Map<string, Minor>();
  let written = 0;
  const options = { rowEnd: CRLF, digitsOf: minorDigits, blockBytes: WRITE_BYTES };
  await copyInvoiceCsv(db, query, options, async (part) => {
    for await (const block of part.blocks) {
      await write(out, block, () => part.release(block));
      input.onRows?.(written + part.records());
    }
    let rows = 0;
    for (const { currency, rows: n, amount } of part.totals()) {
      totals.set(currency, sumMinor([totals.get(currency) ?? 0, amount]));
      rows += n;
    }
    // Every record the part's totals added up is one COPY sent: a difference is a bug.
    if (part.records() !== rows)
      throw new Error(`invoice CSV: COPY sent ${part.records()} records, but ${rows} were added up`);
    written += rows;
  });
  return { rows: written, totals };
}

/** The COPY path writes blocks of this many bytes (the last one of a part smaller). */
const WRITE_BYTES = 1 << 20;

/**
 * Writes with backpressure: waits for `drain` when the stream's buffer is full. `written` is
 * called once the stream is done with `chunk` (not on error).
 */
async function write(out: Writable, chunk: string | Buffer, written?: () => void): Promise<void> {
  const done = (error?: Error | null) => {
    if (!error) written?.();
  };
  if (!out.write(chunk, done)) await once(out, 'drain');
}
