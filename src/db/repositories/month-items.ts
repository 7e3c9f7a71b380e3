import { type RawBuilder, sql } from 'kysely';

/** A tenant's month as its invoice reads it: the current runs of days `from`..`to`, the adjustment lines invoiced in `month`. */
export interface MonthItemsScope {
  tenantId: string;
  month: string;
  from: string;
  to: string;
}

/**
 * The one home of "a tenant's month by (item, billing)", the rows the invoice CSV sums: first
 * `runColumns` aggregated over the `lines` table (alias `l`, keyed by `run_id`) of the current runs
 * of the month's days, then `adjustmentColumns` aggregated over the adjustment lines invoiced in
 * the month (alias `a`); each row starts with item and billing, ordered by them.
 */
export function monthItemsSql<R>(
  s: MonthItemsScope,
  lines: 'charge_lines' | 'console_run_totals',
  runColumns: RawBuilder<unknown>,
  adjustmentColumns: RawBuilder<unknown>,
): RawBuilder<R> {
  return sql<R>`
    SELECT l.item, l.billing, ${runColumns}
    FROM runs r JOIN ${sql.table(lines)} l ON l.run_id = r.id
    WHERE r.tenant_id = ${s.tenantId}::text AND r.is_current AND r.day BETWEEN ${s.from}::date AND ${s.to}::date
    GROUP BY l.item, l.billing
    UNION ALL
    SELECT a.item, a.billing, ${adjustmentColumns}
    FROM adjustment_lines a
    WHERE a.tenant_id = ${s.tenantId}::text AND a.period = ${s.month}
    GROUP BY a.item, a.billing
    ORDER BY 1, 2
  `;
}
