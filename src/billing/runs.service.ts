import type { Db } from '../db/database.ts';
import { listRuns as listStoredRuns, type RunFilter } from '../db/repositories/run.repository.ts';
import type { Run } from '../domain/run.ts';

export type { Run, RunFilter };

/**
 * The runs ops look at (`billing runs`): current runs by default, every run with `history`
 * (superseded and adjustment runs too), ordered by tenant (byte order), day, id.
 */
export function listRuns(db: Db, filter: RunFilter): Promise<Run[]> {
  return listStoredRuns(db, filter);
}
