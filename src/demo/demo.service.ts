import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { loadPriceBook } from '../billing/price-book.service.ts';
import { billRange, failedDays } from '../billing/run-range.service.ts';
import type { Db } from '../db/database.ts';
import { monthDays } from '../domain/calendar.ts';
import { type Minor, sumMinor } from '../domain/money.ts';
import { ConflictError, InputError, OperationError } from '../errors.ts';
import { writeInvoiceCsv } from '../export/invoice-csv.ts';
import { importEventFile } from '../ingest/event-file-import.ts';
import { EventIngestor } from '../ingest/event-ingest.service.ts';
import { importSettingsFile } from '../ingest/settings-file-import.ts';
import { type ChargeExplanation, explainCharges } from '../insight/explain.service.ts';
import { type Reconciliation, reconcileMonth } from '../insight/reconcile.service.ts';
import type { Logger } from '../logger.ts';
import { addTenant } from '../tenancy/tenant.service.ts';
import { DEMO_MONTH, DEMO_NOW, DEMO_PRICE_BOOK, DEMO_TENANT, demoData } from './demo-data.ts';
import { InvoiceSummary, type SummaryRow } from './demo-summary.ts';

export interface DemoResult {
  tenant: typeof DEMO_TENANT;
  month: string;
  files: { prices: string; settings: string; logins: string; invoice: string };
  users: number;
  settings: { stored: number; refused: number };
  logins: { accepted: number; duplicates: number; rejected: number };
  billing: { days: number; lines: number; total: Minor };
  invoice: { rows: number; total: Minor };
  summary: SummaryRow[];
  /** One daily user's explanation of a mid-month day, and the month's reconciliation. */
  insight: { explain: ChargeExplanation; reconcile: Reconciliation };
}

/**
 * Told where the demo is (the CLI draws progress bars from it): `stage` starts a stage of
 * `total` units (0 = unknown) and returns the function the demo calls with the units done.
 */
export interface DemoObserver {
  stage(name: string, total: number, unit: string): (done: number) => void;
}

const ndjson = (values: readonly unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join('');

/**
 * The end-to-end demonstration (`docs/cli.md`, demo) on `db`: writes the sample files into `outDir`
 * and feeds them through the same paths a user would (price book load, settings import, login
 * event file import), bills every day of the month through `billRange` (so `billDay`), then
 * exports the invoice CSV. Deterministic: the data is seeded and the business clock is
 * `DEMO_NOW`; only the file paths differ between runs. Fails (exit 1) if a day fails to bill or
 * the invoice does not add up to what was billed.
 */
export async function runDemo(
  db: Db,
  outDir: string,
  logger?: Logger,
  observer?: DemoObserver,
): Promise<DemoResult> {
  const stage = (name: string, total: number, unit: string) =>
    observer?.stage(name, total, unit) ?? (() => {});
  await mkdir(outDir, { recursive: true });
  const now = () => DEMO_NOW;
  try {
    await addTenant(db, DEMO_TENANT);
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    throw new InputError(
      `this database already holds the demo tenant "${DEMO_TENANT.id}": run the demo with an empty BILLING_DATA_DIR (or leave it unset)`,
    );
  }
  const data = demoData();
  const files = {
    prices: path.join(outDir, 'prices.json'),
    settings: path.join(outDir, 'settings.ndjson'),
    logins: path.join(outDir, 'logins.ndjson'),
    invoice: path.join(outDir, `invoice-${DEMO_TENANT.id}-${DEMO_MONTH}.csv`),
  };
  const settingsText = ndjson(data.settings);
  const loginsText = ndjson(data.logins);
  await writeFile(files.prices, `${JSON.stringify(DEMO_PRICE_BOOK, null, 2)}\n`);
  await writeFile(files.settings, settingsText);
  await writeFile(files.logins, loginsText);

  await loadPriceBook(db, DEMO_PRICE_BOOK, files.prices);
  const settingsDone = stage('settings', data.settings.length, 'versions');
  const settings = await importSettingsFile(db, createReadStream(files.settings), now);
  settingsDone(settings.stored + settings.unchanged + settings.refused.length);
  if (settings.refused.length > 0) {
    throw new OperationError(
      `demo settings refused: ${settings.refused.map((r) => `line ${r.lineNo}: ${r.reason}`).join('; ')}`,
    );
  }
  // One batch in flight: the embedded database runs one query at a time.
  const kb = (bytes: number) => Math.ceil(bytes / 1024);
  const loginsRead = stage('logins', kb(Buffer.byteLength(loginsText)), 'KB');
  const logins = await importEventFile(new EventIngestor(db, now), createReadStream(files.logins), {
    format: 'ndjson',
    name: files.logins,
    concurrency: 1,
    onProgress: (bytes) => loginsRead(kb(bytes)),
  });

  const days = monthDays(DEMO_MONTH);
  const daysBilled = stage('billing', days.length, 'days');
  const billed = await billRange(
    db,
    {
      tenantId: DEMO_TENANT.id,
      from: days[0] as string,
      to: days.at(-1),
      trigger: 'schedule',
      now: DEMO_NOW,
      onProgress: ({ done }) => daysBilled(done),
    },
    logger,
  );
  const failed = failedDays(billed);
  if (failed.length > 0) {
    throw new OperationError(
      `demo: days failed to bill: ${failed.map((f) => `${f.day} (${f.error.message})`).join('; ')}`,
    );
  }
  let lines = 0;
  const totals: Minor[] = [];
  for (const r of billed.results) {
    if ('outcome' in r && r.outcome.status === 'billed') {
      lines += r.outcome.lineCount;
      totals.push(r.outcome.total);
    }
  }

  const summary = new InvoiceSummary();
  const out = createWriteStream(files.invoice);
  const rowsWritten = stage('invoice', 0, 'rows');
  let rows = 0;
  const exported = await writeInvoiceCsv(
    db,
    {
      month: DEMO_MONTH,
      tenantId: DEMO_TENANT.id,
      onRow: (row) => {
        summary.add(row);
        rowsWritten(++rows);
      },
    },
    out,
  );
  out.end();
  await finished(out);
  const billing = { days: billed.results.length, lines, total: sumMinor(totals) };
  const invoice = { rows: exported.rows, total: exported.totals.get(DEMO_TENANT.currency) ?? 0 };
  if (invoice.total !== billing.total) {
    throw new OperationError(
      `demo: the invoice total ${invoice.total} differs from the billed total ${billing.total} (minor units)`,
    );
  }
  return {
    tenant: DEMO_TENANT,
    month: DEMO_MONTH,
    files,
    users: new Set(data.settings.map((s) => s.userId)).size,
    settings: { stored: settings.stored, refused: settings.refused.length },
    logins: { accepted: logins.accepted, duplicates: logins.duplicates, rejected: logins.rejected },
    billing,
    invoice,
    summary: summary.rows(),
    insight: await demoInsight(db, data.settings),
  };
}

/** The explanation of the first user billed daily on the 14th, and the month's reconciliation. */
async function demoInsight(
  db: Db,
  settings: ReadonlyArray<{ userId: string; billing?: string }>,
): Promise<DemoResult['insight']> {
  const day = `${DEMO_MONTH}-14`;
  const daily = [...new Set(settings.filter((s) => s.billing === 'daily').map((s) => s.userId))];
  let explain: ChargeExplanation | undefined;
  for (const userId of daily.slice(0, 10)) {
    const e = await explainCharges(db, { tenantId: DEMO_TENANT.id, userId, day, now: DEMO_NOW });
    explain ??= e;
    if (e.days[0]?.billing === 'daily' && (e.days[0]?.lines.length ?? 0) > 0) {
      explain = e;
      break;
    }
  }
  if (!explain) throw new OperationError('demo: no daily user to explain');
  const reconcile = await reconcileMonth(db, { month: DEMO_MONTH, tenantId: DEMO_TENANT.id, now: DEMO_NOW });
  return { explain, reconcile };
}
