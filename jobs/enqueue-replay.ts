import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../src/logger.ts';
import { addInChunks } from './enqueue.ts';
import { openBillQueue, REPLAY_DAY, type ReplayDayPayload, replayDayJobId } from './queues.ts';

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

/**
 * Queues replays of `days` for each of `tenantIds` from a process that is not a worker (the
 * CLI, the console): opens the bill queue for the call and closes it. Returns the job count.
 */
export async function queueReplays(
  redis: { url: string; prefix: string; logger: Logger },
  request: { tenantIds: readonly string[]; days: readonly string[]; now: Date },
): Promise<number> {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  connection.on('error', (e) => redis.logger.warn({ err: e }, 'redis connection error'));
  const bill = openBillQueue(connection, redis.prefix, (e) => redis.logger.error({ err: e }, 'queue error'));
  try {
    let queued = 0;
    for (const tenantId of request.tenantIds)
      queued += await enqueueReplay(bill, { tenantId, days: request.days, now: request.now });
    return queued;
  } finally {
    await bill.close();
    await connection.quit().catch(() => connection.disconnect());
  }
}
