import type { Job, Queue } from 'bullmq';
import { duePages } from '../../src/billing/due-days.service.ts';
import type { Db } from '../../src/db/database.ts';
import type { Logger } from '../../src/logger.ts';
import { DEFAULT_CHUNK_DAYS, enqueueBillDays } from '../enqueue.ts';
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

/** The default of BILLING_PLAN_MAX_JOBS: the most tenant-days one plan looks at and queues. */
export const DEFAULT_PLAN_MAX_JOBS = 5000;

/**
 * Finds the due tenant-days at the planning instant and queues them as `bill-days` jobs of up to
 * `chunkDays` days each (`BILLING_PLAN_CHUNK_DAYS`), at most `maxJobs` days per plan
 * (`BILLING_PLAN_MAX_JOBS`): the plan reads the due work in keyset pages in plan order (each tenant's oldest due day first, tenants in turn) and stops after `maxJobs`
 * days; the rest follows at the next plans. Days whose job is still queued (their claims,
 * `day-claims.ts`) count against the cap without being queued twice, so the queue never holds
 * much more than `maxJobs` tenant-days, however far back a version was dated.
 */
export function planNightProcessor(deps: {
  db: Db;
  bill: Queue;
  logger: Logger;
  maxJobs?: number;
  chunkDays?: number;
}) {
  const maxJobs = deps.maxJobs ?? DEFAULT_PLAN_MAX_JOBS;
  const chunkDays = deps.chunkDays ?? DEFAULT_CHUNK_DAYS;
  return async (job: Job): Promise<{ now: string; due: number; planned: number }> => {
    const now = planningInstant(job, parsePayload(planNightPayload, job).now);
    let due = 0;
    let planned = 0;
    for await (const page of duePages(deps.db, now, maxJobs)) {
      due += page.length;
      planned += await enqueueBillDays(deps.bill, page, now, chunkDays);
    }
    await updateLagGauge(deps.db, now);
    await updateQueueGauges([deps.bill]);
    deps.logger.info(
      { jobId: job.id, now: now.toISOString(), due, planned, maxJobs, chunkDays, capped: due >= maxJobs },
      'planned due tenant-days',
    );
    return { now: now.toISOString(), due, planned };
  };
}
