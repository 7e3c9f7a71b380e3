import type { Job } from 'bullmq';
import type { DayBatcher } from '../day-batcher.ts';
import { parsePayload } from '../payload.ts';
import { replayDayPayload } from '../queues.ts';
import { billDayForJob, type JobOutcome } from './job-outcome.ts';

/**
 * Replays one tenant-day from the data as it is now, judged at the request instant: the same
 * billDay as `billing replay` (a closed period gets adjustment lines). Idempotent: replaying
 * unchanged data reproduces the same lines.
 */
export function replayDayProcessor(deps: { batcher: DayBatcher }) {
  return async (job: Job): Promise<JobOutcome> => {
    const p = parsePayload(replayDayPayload, job);
    return billDayForJob(deps.batcher, job, {
      tenantId: p.tenantId,
      day: p.day,
      trigger: 'replay',
      now: new Date(p.now),
    });
  };
}
