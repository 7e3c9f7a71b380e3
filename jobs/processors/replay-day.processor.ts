import type { Job } from 'bullmq';
import type { Kysely } from 'kysely';
import { billDay } from '../../src/billing/bill-day.service.ts';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/logger.ts';
import { parsePayload } from '../payload.ts';
import { replayDayPayload } from '../queues.ts';
import { asJobError, type JobOutcome, summary } from './job-outcome.ts';

/**
 * Replays one tenant-day from the data as it is now, judged at the request instant: the same
 * billDay as `billing replay` (a closed period gets adjustment lines). Idempotent: replaying
 * unchanged data reproduces the same lines.
 */
export function replayDayProcessor(deps: { db: Kysely<Database>; logger: Logger }) {
  return async (job: Job): Promise<JobOutcome> => {
    const p = parsePayload(replayDayPayload, job);
    const logger = deps.logger.child({ tenantId: p.tenantId, day: p.day, jobId: job.id });
    try {
      return await billDay(
        deps.db,
        {
          tenantId: p.tenantId,
          day: p.day,
          trigger: 'replay',
          now: new Date(p.now),
          jobId: job.id,
          maxDiffRows: 0,
        },
        logger,
      ).then(summary);
    } catch (error) {
      throw asJobError(error);
    }
  };
}
