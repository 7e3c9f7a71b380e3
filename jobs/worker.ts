import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Db } from '../src/db/database.ts';
import type { Logger } from '../src/logger.ts';
import { DayBatcher } from './day-batcher.ts';
import { updateQueueGauges } from './gauges.ts';
import { billDayProcessor } from './processors/bill-day.processor.ts';
import { billDaysProcessor } from './processors/bill-days.processor.ts';
import { planNightProcessor } from './processors/plan-night.processor.ts';
import { replayDayProcessor } from './processors/replay-day.processor.ts';
import {
  BILL_DAY,
  BILL_DAYS,
  BILL_QUEUE,
  type BillingQueues,
  openQueues,
  PLAN_QUEUE,
  REPLAY_DAY,
} from './queues.ts';
import { upsertPlanSchedule } from './scheduler.ts';

export interface BillingWorkerOptions {
  db: Db;
  redisUrl: string;
  /** Redis key prefix of the queues (BILLING_QUEUE_PREFIX). */
  prefix: string;
  /**
   * Jobs of the bill queue held at once by this process; their tenant-days are billed together
   * in batches (`DayBatcher`), at most two batches at a time.
   */
  concurrency: number;
  logger: Logger;
  /** When set, registers the plan-night scheduler with this cron pattern (idempotent). */
  schedule?: { pattern: string; source: string };
  /** How often the queue gauges are refreshed and the schedule re-registered, in ms (default 30 s). */
  gaugeIntervalMs?: number;
  /** The most tenant-days one plan queues (BILLING_PLAN_MAX_JOBS; default 5,000). */
  planMaxJobs?: number;
  /** The most tenant-days one `bill-days` job carries (BILLING_PLAN_CHUNK_DAYS; default 200). */
  planChunkDays?: number;
}

export interface BillingWorker {
  queues: BillingQueues;
  workers: Worker[];
  /**
   * Stops taking jobs and lets the jobs in flight finish for up to `graceMs`; the ones still
   * running then are handed back (moved to wait, lock released) for another worker. Closes the
   * queues and the Redis connection; the caller closes the database. Resolves with whether every
   * job finished and how many were handed back; when not `finished`, the cut-off jobs still hold
   * database clients, so the caller should exit the process (which rolls them back) rather
   * than wait for the pool to close.
   */
  close(graceMs?: number): Promise<{ finished: boolean; handedBack: number }>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The jobs each worker of this process is running, with their lock tokens (to hand them back). */
type InFlight = Map<string, { job: Job; token: string | undefined }>;

/**
 * Starts the billing workers of this process: the plan queue (concurrency 1: one planning at a
 * time per process; several processes may plan the same night, which the bill-day staleness
 * check and the database make harmless) and the bill queue (bill-days, bill-day and replay-day). BullMQ's
 * stalled-job recovery is left at its defaults (checked every 30 s; a job whose worker died goes
 * back to wait once, a second stall fails it).
 */
export async function startBillingWorker(opts: BillingWorkerOptions): Promise<BillingWorker> {
  const { logger } = opts;
  // BullMQ workers block on Redis: maxRetriesPerRequest must be null so that a Redis restart
  // pauses them instead of failing their commands.
  const connection = new Redis(opts.redisUrl, { maxRetriesPerRequest: null });
  connection.on('error', (e) => logger.warn({ err: e }, 'redis connection error'));
  const queues = openQueues(connection, opts.prefix, (e) => logger.error({ err: e }, 'queue error'));
  if (opts.schedule) {
    const pattern = await upsertPlanSchedule(queues.plan, opts.schedule.pattern, opts.schedule.source);
    logger.info({ pattern, tz: 'UTC' }, 'plan-night schedule registered');
  }
  const inFlight: InFlight = new Map();
  const workers = openWorkers(opts, connection, queues, inFlight);
  for (const w of workers) logWorkerEvents(w, logger);
  const upkeep = setInterval(() => void keepUp(opts, queues), opts.gaugeIntervalMs ?? 30_000);
  upkeep.unref();
  logger.info({ prefix: opts.prefix, concurrency: opts.concurrency }, 'billing worker started');

  return {
    queues,
    workers,
    async close(graceMs = 10_000) {
      clearInterval(upkeep);
      const graceful = Promise.all(workers.map((w) => w.close())).then(() => true);
      const finished = await Promise.race([graceful, sleep(graceMs).then(() => false)]);
      const handedBack = finished ? 0 : await handBack(inFlight, logger);
      await queues.close();
      await connection.quit().catch(() => connection.disconnect());
      logger.info({ finished, handedBack }, 'billing worker closed');
      return { finished, handedBack };
    },
  };
}

/** The plan worker (concurrency 1) and the bill worker, each job tracked in `inFlight` while it runs. */
function openWorkers(
  opts: BillingWorkerOptions,
  connection: Redis,
  queues: BillingQueues,
  inFlight: InFlight,
): Worker[] {
  const { db, logger } = opts;
  const track =
    <R>(process: (job: Job) => Promise<R>) =>
    async (job: Job, token?: string): Promise<R> => {
      const key = `${job.queueName}/${job.id}`;
      inFlight.set(key, { job, token });
      try {
        return await process(job);
      } finally {
        inFlight.delete(key);
      }
    };
  const planNight = planNightProcessor({
    db,
    bill: queues.bill,
    logger,
    ...(opts.planMaxJobs === undefined ? {} : { maxJobs: opts.planMaxJobs }),
    ...(opts.planChunkDays === undefined ? {} : { chunkDays: opts.planChunkDays }),
  });
  // The days of the bill jobs held at once are billed together, two batches at a time (so that
  // one big tenant-day never holds up the rest).
  const batcher = new DayBatcher(db, logger, Math.min(2, opts.concurrency));
  const billDays = billDaysProcessor({ db, batcher, bill: queues.bill });
  const billDay = billDayProcessor({ db, batcher, bill: queues.bill });
  const replayDay = replayDayProcessor({ batcher });
  const planWorker = new Worker(PLAN_QUEUE, track(planNight), {
    connection,
    prefix: opts.prefix,
    concurrency: 1,
  });
  const billWorker = new Worker(
    BILL_QUEUE,
    track(async (job: Job) => {
      if (job.name === BILL_DAYS) return billDays(job);
      if (job.name === BILL_DAY) return billDay(job);
      if (job.name === REPLAY_DAY) return replayDay(job);
      throw new UnrecoverableError(`unknown job name "${job.name}" on queue ${BILL_QUEUE}`);
    }),
    { connection, prefix: opts.prefix, concurrency: opts.concurrency },
  );
  return [planWorker, billWorker];
}

function logWorkerEvents(w: Worker, logger: Logger): void {
  w.on('error', (e) => logger.error({ err: e, queue: w.name }, 'worker error'));
  w.on('failed', (job, e) => {
    const data = (job?.data ?? {}) as { tenantId?: unknown; day?: unknown };
    logger.warn(
      {
        jobId: job?.id,
        queue: w.name,
        tenantId: typeof data.tenantId === 'string' ? data.tenantId : undefined,
        day: typeof data.day === 'string' ? data.day : undefined,
        attemptsMade: job?.attemptsMade,
        err: e.message,
      },
      'job failed',
    );
  });
}

/** Every interval: the queue gauges, and the schedule registered again. */
async function keepUp(opts: BillingWorkerOptions, queues: BillingQueues): Promise<void> {
  const { logger, schedule } = opts;
  await updateQueueGauges([queues.plan, queues.bill]).catch((e) =>
    logger.warn({ err: e }, 'queue gauges not updated'),
  );
  // Idempotent: after Redis lost its data (a restart without persistence, a new instance) the
  // schedule comes back within one interval, without restarting the workers.
  if (schedule) {
    await upsertPlanSchedule(queues.plan, schedule.pattern, schedule.source).catch((e) =>
      logger.warn({ err: e }, 'plan-night schedule not re-registered; retrying at the next interval'),
    );
  }
}

/**
 * Moves the jobs still running back to wait; returns how many. Each run is one database
 * transaction: a job cut off here commits nothing when the process exits, and moving it back to
 * wait lets another worker start it at once instead of after the stalled-job check.
 * (`worker.close(true)` would not help: a second close returns the first, still pending,
 * graceful one.)
 */
async function handBack(inFlight: InFlight, logger: Logger): Promise<number> {
  let handedBack = 0;
  for (const { job, token } of inFlight.values()) {
    try {
      await job.moveToWait(token);
      handedBack++;
    } catch (e) {
      logger.warn({ err: e, jobId: job.id }, 'job not handed back; stalled-job recovery will return it');
    }
  }
  return handedBack;
}
