import type { Transaction } from 'kysely';
import type { Database, Db } from './database.ts';

export type Trx = Transaction<Database>;

/**
 * Runs `work` in a transaction on `db`. A handle that is already a transaction is used as it
 * is (the work joins it): Kysely cannot nest transactions, and a caller that holds one wants
 * the work to commit or roll back with the rest of it. This is the one place that opens a
 * transaction, so every service can take any handle (`Db`).
 */
export function inTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db as Trx);
  return db.transaction().execute(work);
}

/**
 * Runs `work` in one READ ONLY, REPEATABLE READ transaction: every figure of an answer comes
 * from one snapshot, and the database itself refuses any write (also on the embedded PGlite).
 * Inside a caller's transaction the work reads that transaction's snapshot.
 */
export function inReadOnlySnapshot<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db as Trx);
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
}
