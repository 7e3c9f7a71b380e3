import type { Job, Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { findDueDays } from '../../src/billing/due-days.service.ts';
import type { Database } from '../../src/db/database.ts';
import type { Logger } from '../../src/logger.ts';
import { enqueueBillDays } from '../enqueue.ts';
import { updateLagGauge, updateQueueGauges } from '../gauges.ts';
import { parsePayload } from '../payload.ts';
import { planNightPayload } from '../queues.ts';

/**
 * The planning instant: the payload's explicit `now`, else the scheduler's fire time
 * (`opts.prevMillis`), else the job's creation time. Never the worker's clock, so a retried or
 * late plan plans the same night.
 */
function planningInstant(job: Job, explicit: string | undefined): Date {
  if (explicit !== undefined) return new Date(explicit);
  return new Date(job.opts.prevMillis ?? job.timestamp);
}

/** Finds the due tenant-days at the planning instant and queues one `bill-day` job for each. */
export function planNightProcessor(deps: { db: Kysely<Database>; bill: Queue; logger: Logger }) {
  return async (job: Job): Promise<{ now: string; planned: number }> => {
    const now = planningInstant(job, parsePayload(planNightPayload, job).now);
    const due = await findDueDays(deps.db, now);
    const planned = await enqueueBillDays(deps.bill, due, now);
    await updateLagGauge(deps.db, now);
    await updateQueueGauges([deps.bill]);
    deps.logger.info({ jobId: job.id, now: now.toISOString(), planned }, 'planned due tenant-days');
    return { now: now.toISOString(), planned };
  };
}
