import type { Job, Queue } from 'bullmq';
import type { Db } from '../../src/db/database.ts';
import type { DayBatcher } from '../day-batcher.ts';
import { releaseDays } from '../day-claims.ts';
import { NightCache } from '../night-cache.ts';
import { parsePayload } from '../payload.ts';
import { billDayPayload } from '../queues.ts';
import { billDayForJob, type JobOutcome } from './job-outcome.ts';

/**
 * Bills one planned tenant-day at the payload's planning instant. A job overtaken by another
 * run (a duplicate plan, a manual run, its own retry after commit) ends as `skipped: up-to-date`
 * (judged under the day's lock), so it ends in the same state however often it ran.
 * The tenant, first day and price books come from the night's cache on a first attempt; a retry
 * (e.g. after a price was loaded late), or the retry of a day that failed in a `bill-days` job,
 * reads them afresh; once billed, it clears its claim on the day (`day-claims.ts`). The days of the jobs this worker runs
 * at once are billed together (`DayBatcher`); each job gets its own day's outcome or error.
 */
export function billDayProcessor(deps: { db: Db; batcher: DayBatcher; bill: Queue }) {
  const night = new NightCache(deps.db);
  return async (job: Job): Promise<JobOutcome> => {
    const p = parsePayload(billDayPayload, job);
    // A day that failed in a `bill-days` job (`chunk`) is a retry already: read afresh.
    const fresh = job.attemptsMade > 0 || p.chunk !== undefined;
    const known = fresh ? undefined : await night.known(p.now, p.tenantId);
    const outcome = await billDayForJob(deps.batcher, job, {
      tenantId: p.tenantId,
      day: p.day,
      trigger: p.trigger,
      now: new Date(p.now),
      onlyIfDue: true,
      ...(known ? { known } : {}),
    });
    await releaseDays(deps.bill, [p], job.id as string);
    return outcome;
  };
}
