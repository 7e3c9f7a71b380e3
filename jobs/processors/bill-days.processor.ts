import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import type { DayBilled } from '../../src/billing/bill-days.service.ts';
import type { Db } from '../../src/db/database.ts';
import type { DayBatcher } from '../day-batcher.ts';
import { claimDays, releaseDays } from '../day-claims.ts';
import { billDayDeduplicationId } from '../enqueue.ts';
import { NightCache } from '../night-cache.ts';
import { parsePayload } from '../payload.ts';
import {
  BILL_DAY,
  type BillDayPayload,
  billDayJobId,
  billDaysPayload,
  FIRST_RETRY_DELAY_MS,
  type PlannedDay,
} from '../queues.ts';
import { asJobError, summary } from './job-outcome.ts';

/** What a `bill-days` job returns (kept in Redis): counts, and where each failed day went. */
export interface ChunkOutcome {
  days: number;
  billed: number;
  skipped: number;
  lineCount: number;
  /** The days that failed here, each with the `bill-day` job that retries it alone and the error. */
  failed: { tenantId: string; day: string; jobId: string; error: string }[];
}

/**
 * Bills the planned tenant-days of one `bill-days` job, each in its own right: they go through
 * the worker's `DayBatcher` with the days of the other jobs it holds, each with `onlyIfDue` (a
 * day that has a current run as recent as its input ends as `skipped: up-to-date`, judged under
 * the day's lock), each with its own outcome. A day that fails does not fail the job: it becomes
 * a `bill-day` job of its own (its payload plus `chunk`, the id of this job), which retries it
 * alone with the usual backoff (`FIRST_RETRY_DELAY_MS` first; at once when it can never be
 * billed, so that it fails for good with its reason), and that job takes over the day's claim.
 * The days billed here are never billed again by it: if the job itself fails afterwards (Redis
 * away while the failed days are queued) or is handed back on SIGTERM, its next attempt finds
 * them up to date. At the end, the job clears its claims.
 */
export function billDaysProcessor(deps: { db: Db; batcher: DayBatcher; bill: Queue }) {
  const night = new NightCache(deps.db);
  return async (job: Job): Promise<ChunkOutcome> => {
    const p = parsePayload(billDaysPayload, job);
    const jobId = job.id as string;
    const now = new Date(p.now);
    const results = await Promise.all(
      p.days.map(async (d) => {
        // The night's cache on a first attempt; a retried job reads afresh (a price loaded late).
        const known = job.attemptsMade === 0 ? await night.known(p.now, d.tenantId) : undefined;
        return deps.batcher.bill({
          tenantId: d.tenantId,
          day: d.day,
          trigger: d.trigger,
          now,
          onlyIfDue: true,
          jobId,
          maxDiffRows: 0,
          ...(known ? { known } : {}),
        });
      }),
    );
    const failed = await queueFailedDays(deps.bill, jobId, p.now, p.days, results);
    await releaseDays(deps.bill, p.days, jobId);
    const outcomes = results.flatMap((r) => ('outcome' in r ? [summary(r.outcome)] : []));
    return {
      days: p.days.length,
      billed: outcomes.filter((o) => o.status === 'billed' || o.status === 'adjusted').length,
      skipped: outcomes.filter((o) => o.status === 'skipped').length,
      lineCount: outcomes.reduce((n, o) => n + ('lineCount' in o ? o.lineCount : 0), 0),
      failed,
    };
  };
}

/**
 * One `bill-day` job for each day of `days` whose result is an error; each claims its day. Its
 * id is the one a `bill-day` job of that plan's day has (`billDayJobId`), so the same failure
 * seen again (this job retried) queues nothing twice.
 */
async function queueFailedDays(
  bill: Queue,
  chunk: string,
  now: string,
  days: readonly PlannedDay[],
  results: readonly DayBilled[],
): Promise<ChunkOutcome['failed']> {
  const failed = days.flatMap((d, k) => {
    const r = results[k] as DayBilled;
    return 'error' in r ? [{ day: d, error: asJobError(r.error) }] : [];
  });
  if (failed.length === 0) return [];
  const payloads = failed.map(({ day }): BillDayPayload => ({ ...day, now, chunk }));
  const jobs = await bill.addBulk(
    failed.map(({ error }, k) => {
      const data = payloads[k] as BillDayPayload;
      return {
        name: BILL_DAY,
        data,
        opts: {
          jobId: billDayJobId(data),
          deduplication: { id: billDayDeduplicationId(data) },
          delay: error instanceof UnrecoverableError ? 0 : FIRST_RETRY_DELAY_MS,
        },
      };
    }),
  );
  const out: ChunkOutcome['failed'] = [];
  for (const [k, { day, error }] of failed.entries()) {
    // A deduplicated add returns the job of the day that is already queued: it holds the claim.
    const id = jobs[k]?.id ?? billDayJobId(payloads[k] as BillDayPayload);
    await claimDays(bill, [day], id);
    out.push({
      tenantId: day.tenantId,
      day: day.day,
      jobId: id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
  return out;
}
