import { sql } from 'kysely';
import { parseMinor } from '../../domain/money.ts';
import type { Db } from '../database.ts';
import type { ItemSum } from './charge-line.repository.ts';
import { type MonthItemsScope, monthItemsSql } from './month-items.ts';

export interface ItemTotal {
  item: string;
  billing: string;
  /** Charge lines (one per user and day billed) or adjustment lines. */
  lines: number;
  /** Minor units. */
  amount: number;
}

/**
 * Records the sums by (item, billing) of runs written in one transaction in
 * `console_run_totals`, as `insertDayLines` returned them while inserting their lines: ONE
 * insert of ~10 rows a run. Billing calls it in the runs' transaction, so every committed run
 * has its sums and no console page ever reads a run's lines to add them up. Idempotent.
 */
export async function recordRunsTotals(
  trx: Db,
  runs: readonly { runId: string; byItem: readonly ItemSum[] }[],
): Promise<void> {
  const rows = runs.flatMap((r) => r.byItem.map((s) => ({ runId: r.runId, ...s })));
  if (rows.length === 0) return;
  await sql`
    INSERT INTO console_run_totals (run_id, item, billing, lines, amount)
    SELECT r, i, b, n, a
    FROM unnest(${rows.map((s) => s.runId)}::bigint[], ${rows.map((s) => s.item)}::text[],
                ${rows.map((s) => s.billing)}::text[], ${rows.map((s) => s.lines)}::int[],
                ${rows.map((s) => String(s.amount))}::bigint[]) AS x(r, i, b, n, a)
    ON CONFLICT DO NOTHING
  `.execute(trx);
}

/** `recordRunsTotals` of one run. */
export function recordRunTotals(trx: Db, runId: string, sums: readonly ItemSum[]): Promise<void> {
  return recordRunsTotals(trx, [{ runId, byItem: sums }]);
}

/**
 * Fills `console_run_totals` for the current runs of a tenant's days `from`..`to` that have
 * lines but no sums (a run written by something else than billing): normally none, and then
 * the cost is one index scan of the month's runs.
 */
export async function fillRunTotals(db: Db, tenantId: string, from: string, to: string): Promise<void> {
  // Two statements, so that the lines read are only those of the runs without sums (a plan that
  // joined every line of the month before filtering would read millions of rows on each visit).
  const { rows } = await sql<{ id: string }>`
    SELECT r.id::text AS id FROM runs r
    WHERE r.tenant_id = ${tenantId}::text AND r.is_current AND r.line_count > 0
      AND r.day BETWEEN ${from}::date AND ${to}::date
      AND NOT EXISTS (SELECT 1 FROM console_run_totals t WHERE t.run_id = r.id)
  `.execute(db);
  await sumRunLines(
    db,
    rows.map((r) => r.id),
  );
}

/** Fills the sums of runs `runIds` (charge runs) that have none yet, in one statement. */
export async function ensureRunTotals(db: Db, runIds: readonly string[]): Promise<void> {
  const { rows } = await sql<{ id: string }>`
    SELECT r.id::text AS id FROM runs r
    WHERE r.id = ANY (${[...runIds]}::bigint[]) AND r.line_count > 0
      AND NOT EXISTS (SELECT 1 FROM console_run_totals t WHERE t.run_id = r.id)
  `.execute(db);
  await sumRunLines(
    db,
    rows.map((r) => r.id),
  );
}

async function sumRunLines(db: Db, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  await sql`
    INSERT INTO console_run_totals (run_id, item, billing, lines, amount)
    SELECT run_id, item, billing, count(*), sum(amount)
    FROM charge_lines WHERE run_id = ANY (${[...runIds]}::bigint[])
    GROUP BY run_id, item, billing
    ON CONFLICT DO NOTHING
  `.execute(db);
}

/** One run's sums by (item, billing) in byte order (`console_run_totals`; see `recordRunTotals`). */
export async function runItemTotals(db: Db, runId: string): Promise<ItemTotal[]> {
  const { rows } = await sql<{ item: string; billing: string; lines: number; amount: string }>`
    SELECT item, billing, lines, amount::text AS amount FROM console_run_totals
    WHERE run_id = ${runId}::bigint ORDER BY item, billing
  `.execute(db);
  return rows.map((r) => ({
    item: r.item,
    billing: r.billing,
    lines: r.lines,
    amount: parseMinor(r.amount),
  }));
}

/**
 * A tenant's month by (item, billing): the sums of the current runs of days `from`..`to` (from
 * `console_run_totals`, see `fillRunTotals`) followed by the adjustment lines invoiced in
 * `month`; the same rows and amounts the invoice CSV adds up.
 */
export async function monthItemTotals(db: Db, scope: MonthItemsScope): Promise<ItemTotal[]> {
  const { rows } = await monthItemsSql<{ item: string; billing: string; lines: string; amount: string }>(
    scope,
    'console_run_totals',
    sql`sum(l.lines)::text AS lines, sum(l.amount)::text AS amount`,
    sql`count(*)::text, sum(a.amount)::text`,
  ).execute(db);
  return rows.map((r) => ({
    item: r.item,
    billing: r.billing,
    lines: Number(r.lines),
    amount: parseMinor(r.amount),
  }));
}

/**
 * Per tenant among `tenantIds`, for `month`: the sum of the adjustment lines invoiced in it
 * (minor units) and when it was closed (null: open). One statement: an index range of
 * `adjustment_lines (tenant_id, period)` and a `periods` key lookup per tenant.
 */
export async function periodFacts(
  db: Db,
  tenantIds: readonly string[],
  month: string,
): Promise<Map<string, { adjustments: number; closedAt: Date | null }>> {
  const { rows } = await sql<{ tenant_id: string; total: string | null; closed_at: Date | null }>`
    SELECT t.tenant_id,
           (SELECT sum(a.amount)::text FROM adjustment_lines a WHERE a.tenant_id = t.tenant_id AND a.period = ${month}) AS total,
           (SELECT p.closed_at FROM periods p WHERE p.tenant_id = t.tenant_id AND p.month = ${month}) AS closed_at
    FROM unnest(${[...tenantIds]}::text[]) AS t(tenant_id)
  `.execute(db);
  return new Map(
    rows.map((r) => [
      r.tenant_id,
      { adjustments: r.total === null ? 0 : parseMinor(r.total), closedAt: r.closed_at },
    ]),
  );
}

/** Open (unresolved) rejects per tenant; rejects without a tenant under the key ''. */
export async function countOpenRejectsByTenant(db: Db): Promise<Map<string, number>> {
  const { rows } = await sql<{ tenant_id: string | null; n: string }>`
    SELECT tenant_id, count(*)::text AS n FROM ingest_rejects WHERE resolved_at IS NULL GROUP BY tenant_id
  `.execute(db);
  return new Map(rows.map((r) => [r.tenant_id ?? '', Number(r.n)]));
}
