import { type Job, UnrecoverableError } from 'bullmq';
import { type BillDayInput, type BillDayOutcome, billDay } from '../../src/billing/bill-day.service.ts';
import { DayNotBillableError, UnknownTenantError } from '../../src/billing/errors.ts';
import type { Db } from '../../src/db/database.ts';
import type { Minor } from '../../src/domain/money.ts';
import type { Logger } from '../../src/logger.ts';

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
 * billDay for one job: a child logger with the job's tenant, day and id, no diff rows kept (the
 * outcome is stored in Redis), errors mapped for BullMQ's retries.
 */
export async function billDayForJob(
  deps: { db: Db; logger: Logger },
  job: Job,
  input: Omit<BillDayInput, 'jobId' | 'maxDiffRows'>,
): Promise<JobOutcome> {
  const logger = deps.logger.child({ tenantId: input.tenantId, day: input.day, jobId: job.id });
  try {
    return summary(await billDay(deps.db, { ...input, jobId: job.id, maxDiffRows: 0 }, logger));
  } catch (error) {
    throw asJobError(error);
  }
}
