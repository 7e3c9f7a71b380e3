import { sql } from 'kysely';
import type { Db } from '../database.ts';

/**
 * The export's planner settings, as `SET` statements (`tuneForExport` runs them `LOCAL`; the export
 * bench runs them before its COPY of the export's queries):
 * - JIT off: the export's queries cost more than `jit_inline_above_cost` (500,000) from about a
 *   million rows on, so the server compiled them with inlining and optimisation first: 0.75 s
 *   before the first row of a 1,000,000-user month, never won back by queries that only read,
 *   merge and print rows (docs/performance/export.md, "Issue 11, seventh step");
 * - no hash join, no bitmap scan and no parallel workers: the base run's lines must be read in
 *   their primary key's order and merged with the month's exceptions (a Merge Anti Join on user
 *   and item). Otherwise the planner hashed the exceptions, read the lines by a parallel bitmap or
 *   sequential scan of every run's lines, and sorted them again, spilling to disk: 1.39 s against
 *   0.64 s for the row query of a 30-day month of 200,000 users (docs/performance/export.md,
 *   eighth step). With hash joins off it still chose a bitmap scan of the base run's lines and
 *   an external sort of them as soon as `work_mem` was 16 MB or more instead of the default 4 MB
 *   (ninth step): the plan must not depend on the server's `work_mem`;
 * - random reads priced as what they are here, reads of shared buffers (`random_page_cost` 1.1,
 *   the usual value for data in memory or on SSDs, against the default 4 for spinning disks):
 *   at 4 the planner read a tenant's month rows by a sequential scan and sorted them, before
 *   the first row could leave, rather than in order from their primary key (docs/performance/
 *   export.md, "The statement in file order").
 */
export const EXPORT_PLANNER_SETTINGS = [
  'jit = off',
  'enable_hashjoin = off',
  'enable_bitmapscan = off',
  'max_parallel_workers_per_gather = 0',
  'random_page_cost = 1.1',
] as const;

/**
 * The export's planner settings (`EXPORT_PLANNER_SETTINGS`) for the rest of its transaction
 * (`SET LOCAL`; every other query keeps the server's).
 */
export async function tuneForExport(trx: Db): Promise<void> {
  await sql.raw(EXPORT_PLANNER_SETTINGS.map((s) => `SET LOCAL ${s}`).join('; ')).execute(trx);
}
