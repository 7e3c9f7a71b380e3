import { sql } from 'kysely';
import type { Minor } from '../../domain/money.ts';
import type { Db } from '../database.ts';
import { type ItemSum, sumsOfRun } from './charge-line.repository.ts';
import { type DayLinesParams, type DayTerms, dayLinesOf } from './day-lines.repository.ts';

/** One tenant-day of `insertDaysLines`: its run, its query's parameters and its price book. */
export interface DayOfRun {
  runId: string;
  params: DayLinesParams;
  priceBookId: string | null;
}

/** The terms of the day-lines query read from the columns of the relation `tday` below. */
const columnTerms: DayTerms = {
  tenantId: () => sql`tday.d_tenant`,
  day: () => sql`tday.d_day`,
  start: () => sql`tday.d_start`,
  end: () => sql`tday.d_end`,
  dayOfMonth: () => sql`tday.d_dom::bigint`,
  monthLength: () => sql`tday.d_n::bigint`,
  priceBookId: () => sql`tday.d_book`,
};

/**
 * `insertDayLines` for many tenant-days in ONE statement: the day-lines query (`dayLinesOf`, the
 * same SQL as one day's, its parameters read from a relation of the days) run laterally for each
 * day in the order given, its lines inserted under the day's run (each day's own run and price
 * book), and the sums by (run, item, billing) returned. What each day gets is what
 * `insertDayLines` gives it alone (test/integration/bill-days.test.ts compares); the month rows
 * are left to `applyRunsToMonthRows`. A batch's statement count then no longer grows with its days.
 */
export async function insertDaysLines(
  trx: Db,
  days: readonly DayOfRun[],
): Promise<{ lineCount: number; total: Minor; byItem: ItemSum[] }[]> {
  if (days.length === 0) return [];
  const col = <T>(f: (d: DayOfRun) => T) => days.map(f);
  const { rows } = await sql<{ run_id: string; item: string; billing: string; n: string; total: string }>`
    WITH ins AS (
      INSERT INTO charge_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
      SELECT tday.d_run, l.user_id, l.item, l.billing, l.amount, l.unit_price, tday.d_book
      FROM unnest(${col((d) => d.runId)}::bigint[], ${col((d) => d.params.tenantId)}::text[],
                  ${col((d) => d.params.day)}::date[], ${col((d) => d.params.start.toISOString())}::timestamptz[],
                  ${col((d) => d.params.end.toISOString())}::timestamptz[], ${col((d) => d.params.dayOfMonth)}::int[],
                  ${col((d) => d.params.monthLength)}::int[], ${col((d) => d.priceBookId)}::bigint[])
             WITH ORDINALITY AS tday(d_run, d_tenant, d_day, d_start, d_end, d_dom, d_n, d_book, d_ord)
      CROSS JOIN LATERAL (${dayLinesOf(columnTerms, true)}) l
      RETURNING run_id, item, billing, amount
    )
    SELECT run_id::text, item, billing, count(*)::text AS n, sum(amount)::text AS total
    FROM ins GROUP BY run_id, item, billing
  `.execute(trx);
  const ofRun = new Map<string, typeof rows>(days.map((d) => [d.runId, []]));
  for (const r of rows) ofRun.get(r.run_id)?.push(r);
  return days.map((d) => sumsOfRun(ofRun.get(d.runId) ?? []));
}
