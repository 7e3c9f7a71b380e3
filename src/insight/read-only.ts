import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/database.ts';

/**
 * Runs `work` in one READ ONLY, REPEATABLE READ transaction: every figure of an answer comes from
 * one snapshot, and the database itself refuses any write (also on the embedded PGlite).
 */
export function readOnly<T>(
  db: Kysely<Database>,
  work: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
}
