import { createHash } from 'node:crypto';
import { type ConnectionOptions, Queue } from 'bullmq';
import { z } from 'zod';
import { isValidDay } from '../src/domain/calendar.ts';

/**
 * Queue names, job names, payload schemas and job ids of the billing jobs.
 *
 * Two queues so that a long bill backlog never delays planning: `plan` holds the scheduler's
 * `plan-night` jobs (concurrency 1), `bill` holds `bill-days`, `bill-day` and `replay-day`
 * (concurrency from config). `plan-night` queues its tenant-days as `bill-days` jobs of many
 * days each; a day that fails in one becomes a `bill-day` job of its own. Keys live under the
 * configured prefix (`BILLING_QUEUE_PREFIX`).
 */
export const PLAN_QUEUE = 'plan';
export const BILL_QUEUE = 'bill';

export const PLAN_NIGHT = 'plan-night';
export const BILL_DAY = 'bill-day';
export const BILL_DAYS = 'bill-days';
export const REPLAY_DAY = 'replay-day';

const tenantId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a tenant id (slug)');
const day = z.string().refine(isValidDay, 'must be a date YYYY-MM-DD');
const instant = z.iso.datetime({ offset: true });

/** `now`: an explicit planning instant (ISO 8601); absent for scheduler jobs, whose fire time is used. */
export const planNightPayload = z.strictObject({ now: instant.optional() });

const plannedDay = {
  tenantId,
  day,
  trigger: z.enum(['schedule', 'catch-up', 'late-data']),
  revision: z.number().int().nonnegative().optional(),
};

/**
 * One tenant-day to bill. `now` is the planning instant fixed by `plan-night` (billability is
 * judged at it, never at the worker's clock); `revision` is the planned day revision (late data);
 * `chunk`, the id of the `bill-days` job in which the day failed (its retry, read afresh).
 */
export const billDayPayload = z.strictObject({
  ...plannedDay,
  now: instant,
  chunk: z.string().min(1).optional(),
});

/** The most tenant-days one `bill-days` job carries (BILLING_PLAN_CHUNK_DAYS is at most this). */
export const MAX_CHUNK_DAYS = 1000;

/** Many planned tenant-days of one planning instant (`plan-night`'s chunks); each day is billed in its own right. */
export const billDaysPayload = z.strictObject({
  now: instant,
  days: z.array(z.strictObject(plannedDay)).min(1).max(MAX_CHUNK_DAYS),
});

/** One tenant-day replay requested by ops; `now` is the instant of the request. */
export const replayDayPayload = z.strictObject({ tenantId, day, now: instant });

export type BillDayPayload = z.infer<typeof billDayPayload>;
export type BillDaysPayload = z.infer<typeof billDaysPayload>;
export type PlannedDay = BillDaysPayload['days'][number];
export type ReplayDayPayload = z.infer<typeof replayDayPayload>;

/** A compact instant for job ids: `20261128T040000000Z` (no `:`, which BullMQ keys forbid). */
export function instantKey(at: Date): string {
  return at.toISOString().replace(/[-:.]/g, '');
}

/**
 * `bill-day.acme.2026-11-27.catch-up.20261128T030000000Z` or
 * `bill-day.acme.2026-11-27.late-data.r7.20261128T030000000Z`: the business key, the planned day
 * revision (late data) and the planning instant. Two processes planning the same scheduler fire
 * make the same ids; the next plan makes new ones, so a day whose job failed for good (a price
 * missing at the time) is tried again. BullMQ drops an add whose id exists only while that job
 * is still kept, so ids are a convenience: the database (per-day lock, unique current run) and
 * the processor's "still due?" check are what prevent double runs.
 */
export function billDayJobId(p: BillDayPayload): string {
  const revision = p.trigger === 'late-data' && p.revision !== undefined ? `r${p.revision}.` : '';
  return `${BILL_DAY}.${p.tenantId}.${p.day}.${p.trigger}.${revision}${instantKey(new Date(p.now))}`;
}

/**
 * `bill-days.20261128T030000000Z.acme.2026-11-27.n200.3f9c2a1b`: the planning instant, the first
 * tenant-day, the count and a digest of every planned day (tenant, day, trigger, revision). Two
 * processes planning the same fire page the same days in the same order, so they make the same
 * chunks and ids.
 */
export function billDaysJobId(p: BillDaysPayload): string {
  const first = p.days[0] as PlannedDay;
  const digest = createHash('sha256');
  for (const d of p.days) digest.update(`${d.tenantId}/${d.day}/${d.trigger}/${d.revision ?? ''};`);
  return `${BILL_DAYS}.${instantKey(new Date(p.now))}.${first.tenantId}.${first.day}.n${p.days.length}.${digest.digest('hex').slice(0, 8)}`;
}

export function replayDayJobId(p: ReplayDayPayload): string {
  return `${REPLAY_DAY}.${p.tenantId}.${p.day}.${instantKey(new Date(p.now))}`;
}

/**
 * Retries for billing jobs: a transient failure (database or Redis away, a price loaded late)
 * is retried 5 times with exponential backoff from 10 s (10, 20, 40, 80 s); inputs that can
 * never be billed fail at once through `UnrecoverableError`.
 */
export const BILL_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 10_000 },
  removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
} as const;

/** The first backoff of BILL_JOB_OPTIONS: a day that failed in a `bill-days` job is tried again alone after it. */
export const FIRST_RETRY_DELAY_MS = BILL_JOB_OPTIONS.backoff.delay;

export interface BillingQueues {
  plan: Queue;
  bill: Queue;
  close(): Promise<void>;
}

/** The bill queue (bill-day and replay-day jobs) on `connection` under `prefix`, with an error listener. */
export function openBillQueue(
  connection: ConnectionOptions,
  prefix: string,
  onError: (e: Error) => void,
): Queue {
  const bill = new Queue(BILL_QUEUE, { connection, prefix, defaultJobOptions: BILL_JOB_OPTIONS });
  bill.on('error', onError);
  return bill;
}

/** Opens the two queues on `connection` under `prefix`, each with an error listener. */
export function openQueues(
  connection: ConnectionOptions,
  prefix: string,
  onError: (e: Error) => void,
): BillingQueues {
  const plan = new Queue(PLAN_QUEUE, { connection, prefix });
  plan.on('error', onError);
  const bill = openBillQueue(connection, prefix, onError);
  return {
    plan,
    bill,
    async close() {
      await Promise.all([plan.close(), bill.close()]);
    },
  };
}
