import type { Queue } from 'bullmq';
import { billingLag } from '../src/billing/due-days.service.ts';
import type { Db } from '../src/db/database.ts';
import { billingLagDays, queueJobs } from '../src/metrics.ts';

const STATES = ['waiting', 'active', 'failed', 'delayed'] as const;

/** Sets billing_queue_jobs{queue,state} from the queues' counts. */
export async function updateQueueGauges(queues: readonly Queue[]): Promise<void> {
  for (const queue of queues) {
    const counts = await queue.getJobCounts(...STATES);
    for (const state of STATES) queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
  }
}

/**
 * Sets billing_lag_days{tenant} at instant `now` (the planning instant, or the scrape instant in
 * `serve`): days from the oldest billable day without a current run to the latest billable day.
 * Tenants that no longer have a lag entry disappear (the gauge is rebuilt in one synchronous step).
 */
export async function updateLagGauge(db: Db, now: Date): Promise<void> {
  const lag = await billingLag(db, now);
  billingLagDays.reset();
  for (const { tenantId, days } of lag) billingLagDays.set({ tenant: tenantId }, days);
}
