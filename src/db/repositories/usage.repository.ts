import { sql } from 'kysely';
import { parseMinor } from '../../domain/money.ts';
import type { Db } from '../database.ts';

export interface UsageItemRow {
  item: string;
  billing: string;
  users: number;
  userDays: number;
  amount: number;
}

/**
 * A tenant's month per (item, billing mode), the same rows the invoice CSV sums: the lines of
 * the current runs of the month's days, plus the adjustment lines invoiced in the month (their
 * `adjustment.*` items). users = distinct users, userDays = distinct (user, day) pairs.
 */
export async function sumUsageItems(
  db: Db,
  tenantId: string,
  month: string,
  firstDay: string,
  lastDay: string,
): Promise<UsageItemRow[]> {
  const { rows } = await sql<{
    item: string;
    billing: string;
    users: string;
    user_days: string;
    amount: string;
  }>`
    SELECT l.item, l.billing, count(DISTINCT l.user_id)::text AS users, count(*)::text AS user_days,
           sum(l.amount)::text AS amount
    FROM runs r JOIN charge_lines l ON l.run_id = r.id
    WHERE r.tenant_id = ${tenantId}::text AND r.is_current AND r.day BETWEEN ${firstDay}::date AND ${lastDay}::date
    GROUP BY l.item, l.billing
    UNION ALL
    SELECT a.item, a.billing, count(DISTINCT a.user_id)::text, count(DISTINCT (a.user_id, a.day))::text,
           sum(a.amount)::text
    FROM adjustment_lines a
    WHERE a.tenant_id = ${tenantId}::text AND a.period = ${month}
    GROUP BY a.item, a.billing
    ORDER BY 1, 2
  `.execute(db);
  return rows.map((r) => ({
    item: r.item,
    billing: r.billing,
    users: Number(r.users),
    userDays: Number(r.user_days),
    amount: parseMinor(r.amount),
  }));
}

/** Monthly prices of a run's monthly lines: how many lines carry each unit price. */
export async function countMonthlyPrices(
  db: Db,
  runId: string,
): Promise<Array<{ unitPrice: number; lines: number }>> {
  const { rows } = await sql<{ unit_price: string; n: string }>`
    SELECT unit_price::text AS unit_price, count(*)::text AS n
    FROM charge_lines WHERE run_id = ${runId}::bigint AND billing = 'monthly'
    GROUP BY unit_price
  `.execute(db);
  return rows.map((r) => ({ unitPrice: parseMinor(r.unit_price), lines: Number(r.n) }));
}
