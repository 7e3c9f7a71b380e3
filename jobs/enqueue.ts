import type { Queue } from 'bullmq';
import type { DueDay } from '../src/billing/due-days.service.ts';
import { BILL_DAY, type BillDayPayload, billDayJobId } from './queues.ts';

/** addBulk in chunks: one addBulk of 100k jobs costs ~1 GB of Node memory (measured on this machine: docs/performance.md), 1k costs little. */
const CHUNK = 1000;

/**
 * Adds one job per payload with `addBulk` in chunks of 1,000. Returns how many were ADDED: an add
 * that BullMQ deduplicated (a job of the same deduplication id still waiting, active or retrying)
 * comes back with the existing job's id and is not counted.
 */
export async function addInChunks<T>(
  queue: Queue,
  name: string,
  payloads: readonly T[],
  jobId: (p: T) => string,
  deduplicationId?: (p: T) => string,
): Promise<number> {
  let added = 0;
  for (let i = 0; i < payloads.length; i += CHUNK) {
    const chunk = payloads.slice(i, i + CHUNK);
    const ids = chunk.map(jobId);
    const jobs = await queue.addBulk(
      chunk.map((data, k) => ({
        name,
        data,
        opts: {
          jobId: ids[k] as string,
          ...(deduplicationId ? { deduplication: { id: deduplicationId(data) } } : {}),
        },
      })),
    );
    jobs.forEach((job, k) => {
      if (job.id === ids[k]) added += 1;
    });
  }
  return added;
}

/**
 * One `bill-day` per tenant-day in the queue at a time: while a job of a tenant-day is waiting,
 * active or retrying, later plans add none (BullMQ deduplication, released when the job
 * completes or fails for good). Without it, two plans a few seconds apart queue two jobs of one
 * day, two workers run them at once, both pass the "still due?" check and the day gets two runs.
 * The job that runs bills the day's input as it is then (its latest revision).
 */
export function billDayDeduplicationId(p: { tenantId: string; day: string }): string {
  return `${BILL_DAY}.${p.tenantId}.${p.day}`;
}

/**
 * One `bill-day` job per due tenant-day, all fixed at the planning instant `now`. Returns how many
 * were added (days whose job is still in the queue are deduplicated, not counted).
 */
export function enqueueBillDays(bill: Queue, due: readonly DueDay[], now: Date): Promise<number> {
  const payloads = due.map(
    (d): BillDayPayload => ({
      tenantId: d.tenantId,
      day: d.day,
      trigger: d.trigger,
      now: now.toISOString(),
      ...(d.revision === undefined ? {} : { revision: d.revision }),
    }),
  );
  return addInChunks(bill, BILL_DAY, payloads, billDayJobId, billDayDeduplicationId);
}
