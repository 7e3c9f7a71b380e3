import type { Job } from 'bullmq';
import type { Db } from '../../src/db/database.ts';
import type { Logger } from '../../src/logger.ts';
import { parsePayload } from '../payload.ts';
import { billDayPayload } from '../queues.ts';
import { billDayForJob, type JobOutcome } from './job-outcome.ts';

/**
 * Bills one planned tenant-day at the payload's planning instant. A job overtaken by another
 * run (a duplicate plan, a manual run, its own retry after commit) ends as `skipped: up-to-date`
 * (billDay judges it under the day's lock), so it ends in the same state however often it ran.
 */
export function billDayProcessor(deps: { db: Db; logger: Logger }) {
  return async (job: Job): Promise<JobOutcome> => {
    const p = parsePayload(billDayPayload, job);
    return billDayForJob(deps, job, {
      tenantId: p.tenantId,
      day: p.day,
      trigger: p.trigger,
      now: new Date(p.now),
      onlyIfDue: true,
    });
  };
}
