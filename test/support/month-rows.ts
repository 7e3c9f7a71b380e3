import { sql } from 'kysely';
import type { Db } from '../../src/db/database.ts';

/** One charge row of a tenant-month as the month rows hold it (migration 0015: base + exceptions). */
export interface HeldMonthRow {
  tenantId: string;
  month: string;
  userId: string;
  item: string;
  billing: string;
  unitPrice: string;
  currency: string;
  days: number;
  quantity: number;
  amount: string;
  firstDay: string;
  lastDay: string;
}

/**
 * The rows the month rows stand for, derived here independently of the export's query: every
 * exception row with a day, and every line of a month's base run that no exception names, holding
 * every day the month records (`invoice_month_days`), its amount summed day by day from the
 * proration rule. In (tenant, month, user, item, billing, unit price, currency) order; one
 * tenant's or every tenant's.
 */
export async function heldMonthRows(db: Db, tenantId?: string): Promise<HeldMonthRow[]> {
  const tenant = tenantId === undefined ? sql`true` : sql`x.tenant_id = ${tenantId}`;
  const { rows } = await sql<HeldMonthRow>`
    SELECT x.tenant_id AS "tenantId", x.month, x.user_id AS "userId", x.item, x.billing,
           x.unit_price::text AS "unitPrice", x.currency::text AS currency, x.days, x.quantity,
           x.amount::text AS amount, x.first_day::text AS "firstDay", x.last_day::text AS "lastDay"
    FROM (
      SELECT m.tenant_id, m.month, m.user_id, m.item, m.billing, m.unit_price, m.currency, m.days, m.quantity,
             m.amount, m.first_day, m.last_day
      FROM invoice_month_rows m
      WHERE m.quantity > 0
      UNION ALL
      SELECT b.tenant_id, b.month, l.user_id, l.item, l.billing COLLATE "C", l.unit_price, r.currency, f.days,
             f.quantity, s.amount, f.first_day, f.last_day
      FROM invoice_month_bases b
      JOIN runs r ON r.id = b.run_id
      JOIN charge_lines l ON l.run_id = b.run_id
      JOIN (SELECT tenant_id, to_char(day, 'YYYY-MM') AS month, sum(1 << (extract(day FROM day)::int - 1))::int AS days,
                   count(*)::int AS quantity, min(day) AS first_day, max(day) AS last_day,
                   extract(day FROM date_trunc('month', min(day)) + interval '1 month' - interval '1 day')::bigint AS n
            FROM invoice_month_days GROUP BY 1, 2) f ON f.tenant_id = b.tenant_id AND f.month = b.month
      CROSS JOIN LATERAL (
        SELECT sum(CASE WHEN l.billing = 'monthly' THEN l.unit_price * e / f.n - l.unit_price * (e - 1) / f.n
                        ELSE l.unit_price END)::bigint AS amount
        FROM generate_series(1, 31) e WHERE f.days & (1 << (e - 1)) <> 0) s
      WHERE NOT EXISTS (SELECT 1 FROM invoice_month_rows m
                        WHERE m.tenant_id = b.tenant_id AND m.month = b.month AND m.user_id = l.user_id
                          AND m.item = l.item AND m.billing = l.billing AND m.unit_price = l.unit_price
                          AND m.currency = r.currency)
    ) x
    WHERE ${tenant}
    ORDER BY x.tenant_id, x.month, x.user_id, x.item, x.billing, x.unit_price, x.currency`.execute(db);
  return rows;
}
