import { sql } from 'kysely';
import { parseMinor } from '../../domain/money.ts';
import type { Db } from '../database.ts';
import { type MonthItemsScope, monthItemsSql } from './month-items.ts';

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
export async function sumUsageItems(db: Db, scope: MonthItemsScope): Promise<UsageItemRow[]> {
  const { rows } = await monthItemsSql<{
    item: string;
    billing: string;
    users: string;
    user_days: string;
    amount: string;
  }>(
    scope,
    'charge_lines',
    sql`count(DISTINCT l.user_id)::text AS users, count(*)::text AS user_days, sum(l.amount)::text AS amount`,
    sql`count(DISTINCT a.user_id)::text, count(DISTINCT (a.user_id, a.day))::text, sum(a.amount)::text`,
  ).execute(db);
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
