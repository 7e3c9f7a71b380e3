import { sql } from 'kysely';
import type { AmountDiff } from '../../domain/adjustments.ts';
import { type Minor, parseMinor } from '../../domain/money.ts';
import type { BillingMode } from '../../domain/settings.ts';
import type { Db } from '../database.ts';
import { type DayLinesParams, dayLinesSql } from './day-lines.repository.ts';

export interface StoredAdjustmentLine {
  runId: string;
  tenantId: string;
  period: string;
  day: string;
  userId: string;
  item: string;
  billing: BillingMode;
  amount: Minor;
  currency: string;
}

/**
 * For a day of a closed period: per (user, base item, billing), what is billed already (the
 * current run's lines plus the adjustment lines written for that day, `adjustment.<item>`
 * counted towards `<item>`) against the day computed now, only where they differ, in byte order.
 * `before` = billed, `after` = recomputed (minor units). The SQL twin of `adjustmentLines`.
 */
export async function diffBilledAgainstComputed(
  db: Db,
  currentRunId: string | null,
  p: DayLinesParams,
  priceBookId: string | null,
): Promise<AmountDiff[]> {
  const { rows } = await sql<{
    user_id: string;
    item: string;
    billing: BillingMode;
    before: string;
    after: string;
  }>`
    WITH billed AS (
      SELECT user_id, item, billing, sum(amount) AS amount
      FROM (
        SELECT user_id, item, billing, amount FROM charge_lines WHERE run_id = ${currentRunId}::bigint
        UNION ALL
        SELECT user_id, substr(item, 12) COLLATE "C", billing, amount
        FROM adjustment_lines WHERE tenant_id = ${p.tenantId}::text AND day = ${p.day}::date
      ) x
      GROUP BY user_id, item, billing
    )
    SELECT coalesce(b.user_id, c.user_id) AS user_id, coalesce(b.item, c.item) AS item,
           coalesce(b.billing, c.billing) AS billing,
           coalesce(b.amount, 0)::text AS before, coalesce(c.amount, 0)::text AS after
    FROM billed b
    FULL JOIN (${dayLinesSql(p, priceBookId)}) c ON c.user_id = b.user_id AND c.item = b.item AND c.billing = b.billing
    WHERE coalesce(b.amount, 0) <> coalesce(c.amount, 0)
    ORDER BY 1, 2, 3
  `.execute(db);
  return rows.map((r) => ({
    userId: r.user_id,
    item: r.item,
    billing: r.billing,
    before: parseMinor(r.before),
    after: parseMinor(r.after),
  }));
}

/** Inserts adjustment lines (amounts never 0) in one statement. */
export async function insertAdjustmentLines(
  trx: Db,
  head: { runId: string; tenantId: string; period: string; day: string; currency: string },
  lines: readonly { userId: string; item: string; billing: BillingMode; amount: Minor }[],
): Promise<void> {
  if (lines.length === 0) return;
  await sql`
    INSERT INTO adjustment_lines (run_id, tenant_id, period, day, user_id, item, billing, amount, currency)
    SELECT ${head.runId}::bigint, ${head.tenantId}::text, ${head.period}::text, ${head.day}::date, u, i, b, a,
           ${head.currency}::text
    FROM unnest(${lines.map((l) => l.userId)}::text[], ${lines.map((l) => l.item)}::text[],
                ${lines.map((l) => l.billing)}::text[], ${lines.map((l) => l.amount)}::bigint[]) AS x(u, i, b, a)
  `.execute(trx);
}

/** Adjustment lines by tenant and either the period they are invoiced in or the day they correct. */
export async function listAdjustmentLines(
  db: Db,
  filter: { tenantId: string; period?: string; day?: string },
): Promise<StoredAdjustmentLine[]> {
  let q = db.selectFrom('adjustment_lines').selectAll().where('tenant_id', '=', filter.tenantId);
  if (filter.period !== undefined) q = q.where('period', '=', filter.period);
  if (filter.day !== undefined) q = q.where('day', '=', filter.day);
  const rows = await q.orderBy('day').orderBy('user_id').orderBy('item').orderBy('run_id').execute();
  return rows.map((r) => ({
    runId: r.run_id,
    tenantId: r.tenant_id,
    period: r.period.trim(),
    day: r.day,
    userId: r.user_id,
    item: r.item,
    billing: r.billing as BillingMode,
    amount: parseMinor(r.amount),
    currency: r.currency.trim(),
  }));
}
