import { sql } from 'kysely';
import type { Db } from '../database.ts';
import { lockPairsInOrder } from './advisory-locks.ts';

/**
 * Period lock of (tenant, month): runs take it shared, `close` exclusive, so a run that read
 * "open" can never write charge lines into a month that a concurrent close has just closed.
 * Transaction-level: released at commit or rollback.
 */
export async function lockPeriod(
  trx: Db,
  tenantId: string,
  month: string,
  mode: 'shared' | 'exclusive',
): Promise<void> {
  const key = sql`hashtext('period:' || ${tenantId}::text), hashtext(${month}::text)`;
  if (mode === 'shared') await sql`SELECT pg_advisory_xact_lock_shared(${key})`.execute(trx);
  else await sql`SELECT pg_advisory_xact_lock(${key})`.execute(trx);
}

export async function findPeriod(
  db: Db,
  tenantId: string,
  month: string,
): Promise<{ closedAt: Date } | undefined> {
  const row = await db
    .selectFrom('periods')
    .select('closed_at')
    .where('tenant_id', '=', tenantId)
    .where('month', '=', month)
    .executeTakeFirst();
  return row ? { closedAt: row.closed_at } : undefined;
}

/** The closed months of a tenant after `month` (exclusive), ascending. */
export async function closedMonthsAfter(db: Db, tenantId: string, month: string): Promise<string[]> {
  const rows = await db
    .selectFrom('periods')
    .select('month')
    .where('tenant_id', '=', tenantId)
    .where('month', '>', month)
    .orderBy('month')
    .execute();
  return rows.map((r) => r.month.trim());
}

/** Records the month as closed; false when it was closed already (nothing changes then). */
export async function insertPeriod(
  trx: Db,
  tenantId: string,
  month: string,
  closedAt: Date,
): Promise<boolean> {
  const result = await trx
    .insertInto('periods')
    .values({ tenant_id: tenantId, month, closed_at: closedAt })
    .onConflict((oc) => oc.columns(['tenant_id', 'month']).doNothing())
    .executeTakeFirst();
  return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

/**
 * `lockPeriod(…, 'shared')` for many (tenant, month) in ONE statement, in code-point order
 * (shared locks never wait on each other; a `close` holding one exclusively is waited for).
 */
export function lockPeriodsShared(
  trx: Db,
  periods: readonly { tenantId: string; month: string }[],
): Promise<void> {
  return lockPairsInOrder(
    trx,
    'period',
    'shared',
    periods.map((p) => [p.tenantId, p.month] as const),
  );
}
