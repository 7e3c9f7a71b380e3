import type { Command } from 'commander';
import { validateCronPattern } from '../../../jobs/cron-pattern.ts';
import { startWorker } from '../../../jobs/worker-process.ts';
import type { Logger } from '../../logger.ts';
import type { CliContext } from '../context.ts';
import { keepRunningOnStrayRejections } from '../long-running.ts';
import { parseIntOption } from '../options.ts';

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

/** After the first signal, another one only says that the shutdown is under way. */
function ignoreFurtherSignals(logger: Logger): void {
  const second = () => logger.warn('already shutting down');
  process.on('SIGTERM', second);
  process.on('SIGINT', second);
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
      const worker = await startWorker({
        db,
        redisUrl,
        config,
        logger,
        schedule: { pattern, source },
        metricsPort: opts.metricsPort ?? config.BILLING_METRICS_PORT,
      });
      logger.info({ signal: await signal }, 'shutting down: letting jobs in flight finish');
      ignoreFurtherSignals(logger);
      const { finished } = await worker.close();
      // The cut-off jobs' transactions still hold database clients; closing the pool would wait
      // for them. Exiting drops the connections, which rolls them back.
      if (!finished) process.exit(0);
      await ctx.close();
    });
}
