import { hostname } from 'node:os';
import type { Config } from '../src/config.ts';
import type { Db } from '../src/db/database.ts';
import { httpTimeouts } from '../src/http/server.ts';
import { type StatusPort, startStatusPort } from '../src/http/status-server.ts';
import { type StreamConsumer, startStreamConsumer } from '../src/ingest/stream-consumer.ts';
import type { Logger } from '../src/logger.ts';
import { updateQueueGauges } from './gauges.ts';
import { type BillingWorker, startBillingWorker } from './worker.ts';

/** docs/cli.md: on SIGTERM the worker exits within 15 s. */
const HARD_LIMIT_MS = 15_000;
/** Time the jobs in flight get to finish before they are handed back. */
const GRACE_MS = 10_000;

export interface WorkerProcessOptions {
  db: Db;
  redisUrl: string;
  config: Config;
  logger: Logger;
  /** The plan-night schedule, already checked, and where it came from (for messages). */
  schedule: { pattern: string; source: string };
  /** Serve `/metrics` and `/healthz` on this port (`BILLING_METRICS_HOST`); none when undefined. */
  metricsPort: number | undefined;
}

export interface WorkerProcess {
  /**
   * Stops the process's work within the hard limit: `/healthz` answers 503, the stream consumer
   * finishes its batch, jobs in flight get `GRACE_MS` and are then handed back, the status port
   * closes. Resolves with whether every job finished; when not, the cut-off jobs still hold
   * database clients, so the caller exits (which rolls them back) instead of closing the pool.
   * Past the hard limit (counted from this call, closing the database included) the process
   * exits with 1, whatever hangs.
   */
  close(): Promise<{ finished: boolean }>;
}

/**
 * The `billing worker` process: the billing workers with their plan-night schedule, the
 * login-event stream consumer and, when `metricsPort` is set, the status port with the queue
 * gauges (billing lag is set at every plan). The caller owns the database.
 */
export async function startWorker(opts: WorkerProcessOptions): Promise<WorkerProcess> {
  const worker = await startBillingWorker({
    db: opts.db,
    redisUrl: opts.redisUrl,
    prefix: opts.config.BILLING_QUEUE_PREFIX,
    concurrency: opts.config.BILLING_WORKER_CONCURRENCY,
    planMaxJobs: opts.config.BILLING_PLAN_MAX_JOBS,
    planChunkDays: opts.config.BILLING_PLAN_CHUNK_DAYS,
    logger: opts.logger,
    schedule: opts.schedule,
  });
  const consumer = await startStreamConsumer({
    db: opts.db,
    redisUrl: opts.redisUrl,
    stream: opts.config.BILLING_STREAM,
    group: opts.config.BILLING_STREAM_GROUP,
    consumer: `${hostname()}-${process.pid}`,
    logger: opts.logger,
  });
  let running = true;
  let status: StatusPort | undefined;
  try {
    status = await startWorkerStatusPort(opts, worker, () => running);
  } catch (error) {
    // A busy port: stop what started, so that the process exits instead of running blind.
    await Promise.all([consumer.close(), worker.close(GRACE_MS)]);
    throw error;
  }
  return {
    async close() {
      running = false;
      // Left armed (unref'd) until the process exits: it also bounds the caller's closing of the
      // database after this.
      exitAfterHardLimit(opts.logger);
      return { finished: await stopWork(worker, consumer, status) };
    },
  };
}

async function startWorkerStatusPort(
  opts: WorkerProcessOptions,
  worker: BillingWorker,
  running: () => boolean,
): Promise<StatusPort | undefined> {
  const { config, logger, metricsPort } = opts;
  if (metricsPort === undefined) return undefined;
  const status = await startStatusPort({
    db: opts.db,
    logger,
    running,
    timeouts: httpTimeouts(config),
    port: metricsPort,
    host: config.BILLING_METRICS_HOST,
    refreshers: [
      {
        name: 'billing_queue_jobs',
        refresh: () => updateQueueGauges([worker.queues.plan, worker.queues.bill]),
      },
    ],
    refreshMs: config.BILLING_METRICS_REFRESH_MS,
  });
  logger.info({ port: metricsPort, host: config.BILLING_METRICS_HOST }, 'worker metrics and health served');
  return status;
}

/**
 * Whatever hangs, the process is gone within the limit: a run cut off here is one uncommitted
 * transaction, rolled back when the connection drops.
 */
function exitAfterHardLimit(logger: Logger): void {
  const hard = setTimeout(() => {
    logger.error('shutdown took too long: exiting now');
    process.exit(1);
  }, HARD_LIMIT_MS - 1_000);
  hard.unref();
}

async function stopWork(
  worker: BillingWorker,
  consumer: StreamConsumer,
  status: StatusPort | undefined,
): Promise<boolean> {
  await status?.stopRefresh();
  const [, closed] = await Promise.all([consumer.close(), worker.close(GRACE_MS)]);
  await status?.close();
  return closed.finished;
}
