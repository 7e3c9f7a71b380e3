import type { Job } from 'bullmq';
import type { Db } from '../../src/db/database.ts';
import type { DayBatcher } from '../day-batcher.ts';
import { NightCache } from '../night-cache.ts';
import { parsePayload } from '../payload.ts';
import { billDayPayload } from '../queues.ts';
import { billDayForJob, type JobOutcome } from './job-outcome.ts';

/**
 * Bills one planned tenant-day at the payload's planning instant. A job overtaken by another
 * run (a duplicate plan, a manual run, its own retry after commit) ends as `skipped: up-to-date`
 * (judged under the day's lock), so it ends in the same state however often it ran.
 * The tenant, first day and price books come from the night's cache on a first attempt; a retry
 * (e.g. after a price was loaded late) reads them afresh. The days of the jobs this worker runs
 * at once are billed together (`DayBatcher`); each job gets its own day's outcome or error.
 */
export function billDayProcessor(deps: { db: Db; batcher: DayBatcher }) {
  const night = new NightCache(deps.db);
  return async (job: Job): Promise<JobOutcome> => {
    const p = parsePayload(billDayPayload, job);
    const known = job.attemptsMade === 0 ? await night.known(p.now, p.tenantId) : undefined;
    return billDayForJob(deps.batcher, job, {
      tenantId: p.tenantId,
      day: p.day,
      trigger: p.trigger,
      now: new Date(p.now),
      onlyIfDue: true,
      ...(known ? { known } : {}),
    });
  };
}
