import { type Job, UnrecoverableError } from 'bullmq';
import type { BillDayInput, BillDayOutcome } from '../../src/billing/bill-day.service.ts';
import { DayNotBillableError, UnknownTenantError } from '../../src/billing/errors.ts';
import type { Minor } from '../../src/domain/money.ts';
import type { DayBatcher } from '../day-batcher.ts';

/**
 * Inputs that can never be billed with this payload fail the job at once; everything else
 * (database away, lock timeout, a price not loaded yet) is rethrown and retried with backoff.
 */
export function asJobError(error: unknown): unknown {
  if (error instanceof DayNotBillableError || error instanceof UnknownTenantError) {
    return new UnrecoverableError(error.message);
  }
  return error;
}

/** What a billing job returns (kept in Redis): the outcome without the diff rows. */
export type JobOutcome =
  | { status: 'billed' | 'adjusted'; runId: string | null; lineCount: number; total: Minor }
  | { status: 'skipped'; reason: string }
  | { status: 'dry-run' };

export function summary(outcome: BillDayOutcome): JobOutcome {
  if (outcome.status === 'billed' || outcome.status === 'adjusted') {
    return {
      status: outcome.status,
      runId: outcome.runId,
      lineCount: outcome.lineCount,
      total: outcome.total,
    };
  }
  if (outcome.status === 'skipped') return { status: 'skipped', reason: outcome.reason };
  return { status: outcome.status };
}

/**
 * The day of one job billed through `batcher` (with the other days the worker holds at once),
 * no diff rows kept (the outcome is stored in Redis), errors mapped for BullMQ's retries.
 */
export async function billDayForJob(
  batcher: DayBatcher,
  job: Job,
  input: Omit<BillDayInput, 'jobId' | 'maxDiffRows'>,
): Promise<JobOutcome> {
  const billed = await batcher.bill({ ...input, jobId: job.id, maxDiffRows: 0 });
  if ('error' in billed) throw asJobError(billed.error);
  return summary(billed.outcome);
}
