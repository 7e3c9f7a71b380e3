import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Db } from '../db/database.ts';
import {
  type InvoiceRow,
  streamInvoiceRows,
  type TenantPeriodEnd,
} from '../db/repositories/invoice.repository.ts';
import { findTenant, listTenants } from '../db/repositories/tenant.repository.ts';
import { isValidMonth, type Month, monthBounds, monthDays } from '../domain/calendar.ts';
import { type Minor, sumMinor } from '../domain/money.ts';
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
  /** Rows fetched from the database per round trip: the most the export holds in memory. */
  chunkSize?: number;
  /** Sees every row as it is written (e.g. to build a summary without reading the file back). */
  onRow?: (row: InvoiceRow) => void;
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
 * per row in file order, streamed chunk by chunk from a server-side cursor with backpressure,
 * so memory stays bounded whatever the month's size. Does not end `out`. Each tenant's period
 * ends at its own local month end (`monthBounds`), which decides the names shown.
 */
export async function writeInvoiceCsv(
  db: Db,
  input: InvoiceExportInput,
  out: Writable,
): Promise<InvoiceExportResult> {
  if (!isValidMonth(input.month)) throw new InputError(`invalid month "${input.month}": expected YYYY-MM`);
  const tenants = await tenantsToExport(db, input.tenantId);
  const days = monthDays(input.month);
  const periodEnds: TenantPeriodEnd[] = tenants.map((t) => ({
    tenantId: t.id,
    periodEnd: monthBounds(input.month, t.timezone).end,
  }));
  const money = new MoneyFormatters();
  const totals = new Map<string, Minor>();
  let rows = 0;
  await write(out, INVOICE_HEADER);
  const query = {
    month: input.month,
    firstDay: days[0] as string,
    lastDay: days[days.length - 1] as string,
    tenants: periodEnds,
  };
  for await (const chunk of streamInvoiceRows(db, query, input.chunkSize)) {
    let text = '';
    for (const row of chunk) {
      text += invoiceRecord(input.month, row, money);
      input.onRow?.(row);
      totals.set(row.currency, sumMinor([totals.get(row.currency) ?? 0, row.amount]));
    }
    rows += chunk.length;
    await write(out, text);
  }
  return { rows, totals };
}

/** Writes with backpressure: waits for `drain` when the stream's buffer is full. */
async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}
