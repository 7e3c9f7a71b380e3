import { hostname } from 'node:os';
import type { Command } from 'commander';
import { validateCronPattern } from '../../../jobs/cron-pattern.ts';
import { updateQueueGauges } from '../../../jobs/gauges.ts';
import { startBillingWorker } from '../../../jobs/worker.ts';
import { OperationError } from '../../errors.ts';
import { startMetricsRefresh } from '../../http/metrics-refresh.ts';
import { httpTimeouts } from '../../http/server.ts';
import { buildStatusServer } from '../../http/status-server.ts';
import { startStreamConsumer } from '../../ingest/stream-consumer.ts';
import type { CliContext } from '../context.ts';
import { keepRunningOnStrayRejections } from '../long-running.ts';
import { parseIntOption } from '../options.ts';

/** docs/cli.md: on SIGTERM the worker exits within 15 s. */
const HARD_LIMIT_MS = 15_000;
/** Time the jobs in flight get to finish before they are handed back. */
const GRACE_MS = 10_000;

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

export function registerWorker(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description(
      'the queue worker, the schedule that looks for due days (docs/billing.md, Runs) and the login-event stream consumer',
    )
    .option(
      '--schedule <cron>',
      'how often to look for due days, in UTC: 5 cron fields, or 6 with seconds first (default: BILLING_SCHEDULE, hourly)',
    )
    .option(
      '--metrics-port <n>',
      'serve GET /metrics and GET /healthz on this port, host from BILLING_METRICS_HOST (default: BILLING_METRICS_PORT; unset: none)',
      parseIntOption('--metrics-port'),
    )
    .action(async (opts: { schedule?: string; metricsPort?: number }) => {
      const redisUrl = ctx.redisUrl('worker');
      const { config, logger } = ctx;
      const source = opts.schedule === undefined ? 'BILLING_SCHEDULE' : '--schedule';
      // Checked before connecting anywhere: a typo stops the worker at once with exit 2.
      const pattern = validateCronPattern(opts.schedule ?? config.BILLING_SCHEDULE, source);
      const { db } = await ctx.database();
      keepRunningOnStrayRejections(logger);
      const signal = nextSignal();
      const worker = await startBillingWorker({
        db,
        redisUrl,
        prefix: config.BILLING_QUEUE_PREFIX,
        concurrency: config.BILLING_WORKER_CONCURRENCY,
        planMaxJobs: config.BILLING_PLAN_MAX_JOBS,
        logger,
        schedule: { pattern, source },
      });
      const consumer = await startStreamConsumer({
        db,
        redisUrl,
        stream: config.BILLING_STREAM,
        group: config.BILLING_STREAM_GROUP,
        consumer: `${hostname()}-${process.pid}`,
        logger,
      });
      let running = true;
      const metricsPort = opts.metricsPort ?? config.BILLING_METRICS_PORT;
      const status =
        metricsPort === undefined
          ? undefined
          : buildStatusServer({ db, logger, running: () => running, timeouts: httpTimeouts(config) });
      // The queue gauges on a timer, never per scrape (billing lag is set at every plan).
      const refresh =
        status === undefined
          ? undefined
          : startMetricsRefresh(
              [
                {
                  name: 'billing_queue_jobs',
                  refresh: () => updateQueueGauges([worker.queues.plan, worker.queues.bill]),
                },
              ],
              { intervalMs: config.BILLING_METRICS_REFRESH_MS, logger },
            );
      if (status) {
        try {
          await status.listen({ port: metricsPort, host: config.BILLING_METRICS_HOST });
        } catch (error) {
          // A busy port: stop what started, so that the process exits instead of running blind.
          await refresh?.stop();
          await Promise.all([consumer.stop(), worker.close(GRACE_MS)]);
          throw new OperationError(
            `--metrics-port ${metricsPort}: cannot listen on ${config.BILLING_METRICS_HOST}: ${(error as Error).message}`,
          );
        }
        logger.info(
          { port: metricsPort, host: config.BILLING_METRICS_HOST },
          'worker metrics and health served',
        );
      }

      const received = await signal;
      running = false;
      logger.info({ signal: received }, 'shutting down: letting jobs in flight finish');
      // Whatever hangs, the process is gone within the limit: a run cut off here is one
      // uncommitted transaction, rolled back when the connection drops.
      const hard = setTimeout(() => {
        logger.error('shutdown took too long: exiting now');
        process.exit(1);
      }, HARD_LIMIT_MS - 1_000);
      hard.unref();
      const second = () => logger.warn('already shutting down');
      process.on('SIGTERM', second);
      process.on('SIGINT', second);
      await refresh?.stop();
      const [, closed] = await Promise.all([consumer.stop(), worker.close(GRACE_MS)]);
      await status?.close().catch(() => {});
      if (!closed.finished) {
        // The cut-off jobs' transactions still hold database clients; closing the pool would
        // wait for them. Exiting drops the connections, which rolls them back.
        process.exit(0);
      }
      await ctx.close();
      clearTimeout(hard);
    });
}
