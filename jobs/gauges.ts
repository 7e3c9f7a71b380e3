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

/** Sets billing_lag_days{tenant} at instant `now` (the planning instant). */
export async function updateLagGauge(db: Db, now: Date): Promise<void> {
  for (const { tenantId, days } of await billingLag(db, now)) billingLagDays.set({ tenant: tenantId }, days);
}
