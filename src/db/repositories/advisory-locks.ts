import { sql } from 'kysely';
import type { Db } from '../database.ts';

/**
 * Transaction-level advisory locks `(hashtext('<kind>:' || a), hashtext(b))` on many distinct
 * pairs in ONE statement, taken in (a, b) code-point order whatever the order given, so two
 * callers locking overlapping sets never deadlock. The keys are those of the one-pair locks
 * (`lockTenantDay`: kind `run`, tenant and day; `lockPeriod`: kind `period`, tenant and month;
 * `applyRunsToMonthRows`: kind `month-rows`, tenant and month).
 */
export async function lockPairsInOrder(
  trx: Db,
  kind: 'run' | 'period' | 'month-rows',
  mode: 'exclusive' | 'shared',
  pairs: readonly (readonly [string, string])[],
): Promise<void> {
  if (pairs.length === 0) return;
  const lock = mode === 'shared' ? sql`pg_advisory_xact_lock_shared` : sql`pg_advisory_xact_lock`;
  await sql`
    SELECT count(${lock}(hashtext(${`${kind}:`}::text || x.a), hashtext(x.b)))
    FROM (
      SELECT DISTINCT a COLLATE "C" AS a, b COLLATE "C" AS b
      FROM unnest(${pairs.map((p) => p[0])}::text[], ${pairs.map((p) => p[1])}::text[]) AS u(a, b)
      ORDER BY 1, 2
      OFFSET 0
    ) x
  `.execute(trx);
}
