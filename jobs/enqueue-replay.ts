import type { Queue } from 'bullmq';
import { addInChunks } from './enqueue.ts';
import { REPLAY_DAY, type ReplayDayPayload, replayDayJobId } from './queues.ts';

/**
 * Queues a replay on the worker fleet: one `replay-day` job per day of `days` for `tenantId`,
 * all fixed at the request instant `now` (billability is judged at it). Returns the job count.
 */
export function enqueueReplay(
  bill: Queue,
  request: { tenantId: string; days: readonly string[]; now: Date },
): Promise<number> {
  const payloads = request.days.map(
    (day): ReplayDayPayload => ({ tenantId: request.tenantId, day, now: request.now.toISOString() }),
  );
  return addInChunks(bill, REPLAY_DAY, payloads, replayDayJobId);
}
