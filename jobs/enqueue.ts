import type { Queue } from 'bullmq';
import type { DueDay } from '../src/billing/due-days.service.ts';
import { claimDays, heldDays } from './day-claims.ts';
import { BILL_DAY, BILL_DAYS, type BillDaysPayload, billDaysJobId, type PlannedDay } from './queues.ts';

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
 * active or retrying, another add of it is dropped (BullMQ deduplication, released when the job
 * completes or fails for good). Carried by the `bill-day` job of each day that failed in a
 * `bill-days` job, beside its day claim.
 */
export function billDayDeduplicationId(p: { tenantId: string; day: string }): string {
  return `${BILL_DAY}.${p.tenantId}.${p.day}`;
}

/** The default of BILLING_PLAN_CHUNK_DAYS: the most tenant-days one `bill-days` job carries. */
export const DEFAULT_CHUNK_DAYS = 200;

/**
 * Queues the due tenant-days of one plan, all fixed at the planning instant `now`, as `bill-days`
 * jobs of up to `chunkDays` days each (in plan order). A day held by a job that will still run it
 * (`heldDays`: a `bill-days` or `bill-day` job waiting, delayed, active or retrying) is not queued
 * again. Each job claims its days before it is added. Returns how many days were queued.
 */
export async function enqueueBillDays(
  bill: Queue,
  due: readonly DueDay[],
  now: Date,
  chunkDays = DEFAULT_CHUNK_DAYS,
): Promise<number> {
  const held = await heldDays(bill, due);
  const free = due.filter((_d, k) => !held[k]).map(plannedDay);
  const chunks: BillDaysPayload[] = [];
  for (let i = 0; i < free.length; i += chunkDays)
    chunks.push({ now: now.toISOString(), days: free.slice(i, i + chunkDays) });
  const ids = chunks.map(billDaysJobId);
  for (const [k, chunk] of chunks.entries()) await claimDays(bill, chunk.days, ids[k] as string);
  if (chunks.length > 0)
    await bill.addBulk(
      chunks.map((data, k) => ({ name: BILL_DAYS, data, opts: { jobId: ids[k] as string } })),
    );
  return free.length;
}

function plannedDay(d: DueDay): PlannedDay {
  return {
    tenantId: d.tenantId,
    day: d.day,
    trigger: d.trigger,
    ...(d.revision === undefined ? {} : { revision: d.revision }),
  };
}
