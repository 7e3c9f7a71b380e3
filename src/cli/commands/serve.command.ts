import type { Command } from 'commander';
import { Redis } from 'ioredis';
import { updateAnomalyGauge, updateLagGauge, updateQueueGauges } from '../../../jobs/gauges.ts';
import { type BillingQueues, openQueues } from '../../../jobs/queues.ts';
import { CONSOLE_PATH, registerConsole } from '../../console/console.plugin.ts';
import type { MetricsRefresher } from '../../http/metrics-refresh.ts';
import { DASHBOARD_PATH, registerQueueDashboard } from '../../http/queue-dashboard.ts';
import { buildServer, httpTimeouts } from '../../http/server.ts';
import { startStatusPort } from '../../http/status-server.ts';
import type { CliContext } from '../context.ts';
import { boundHeapGrowth } from '../heap-growth.ts';
import { keepRunningOnStrayRejections } from '../long-running.ts';
import { parseIntOption } from '../options.ts';

/** `docs/cli.md`: on SIGTERM the requests in flight finish and the process exits within 10 s. */
const SHUTDOWN_LIMIT_MS = 9_000;

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description(
      `the HTTP API (docs/api.md) and GET /healthz on --port; GET /metrics only on --metrics-port (BILLING_METRICS_HOST, default 127.0.0.1); host from HOST (default 127.0.0.1); the queue dashboard at ${DASHBOARD_PATH} (HTTP Basic auth, BILLING_ADMIN_USER / BILLING_ADMIN_PASSWORD) when BILLING_ADMIN_PASSWORD and REDIS_URL are set, else not mounted; the console at /console (same credentials) when BILLING_ADMIN_PASSWORD is set`,
    )
    .option('--port <n>', 'TCP port (default PORT or 8080)', parseIntOption('--port'))
    .option(
      '--metrics-port <n>',
      'serve GET /metrics and GET /healthz on this port, host from BILLING_METRICS_HOST (default: BILLING_METRICS_PORT; unset: no metrics)',
      parseIntOption('--metrics-port'),
    )
    .action(async (opts: { port?: number; metricsPort?: number }) => {
      const { config, logger } = ctx;
      keepRunningOnStrayRejections(logger);
      boundHeapGrowth();
      const { db, kind } = await ctx.database();
      // Redis is optional for serve: ingest never uses it; the queue gauges and the dashboard do.
      let redis: Redis | undefined;
      let queues: BillingQueues | undefined;
      if (config.REDIS_URL) {
        // Not the workers' "retry forever": a dashboard request or a refresh fails fast while
        // Redis is away instead of piling up.
        redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1 });
        redis.on('error', (e) => logger.warn({ err: e }, 'redis connection error'));
        queues = openQueues(redis, config.BILLING_QUEUE_PREFIX, (e) =>
          logger.warn({ err: e }, 'queue error'),
        );
      }
      const open = queues;
      const timeouts = httpTimeouts(config);
      const app = buildServer({
        db,
        logger,
        serialize: kind === 'embedded',
        timeouts,
        trustedProxies: config.BILLING_HTTP_TRUSTED_PROXIES,
      });
      if (!config.BILLING_ADMIN_PASSWORD) {
        logger.warn(
          `queue dashboard not mounted at ${DASHBOARD_PATH}: BILLING_ADMIN_PASSWORD is not set (there is no default password)`,
        );
      } else if (!open) {
        logger.warn(`queue dashboard not mounted at ${DASHBOARD_PATH}: REDIS_URL is not set`);
      } else {
        await registerQueueDashboard(app, {
          queues: [open.plan, open.bill],
          user: config.BILLING_ADMIN_USER,
          password: config.BILLING_ADMIN_PASSWORD,
        });
        logger.info({ path: DASHBOARD_PATH, user: config.BILLING_ADMIN_USER }, 'queue dashboard mounted');
      }

      // The status port: /metrics names tenants, so it is never on the public port. Its gauges
      // from PostgreSQL and Redis are refreshed by one timer, never per scrape; nothing
      // refreshes them when nobody can scrape them.
      let running = true;
      const metricsPort = opts.metricsPort ?? config.BILLING_METRICS_PORT;
      const refreshers: MetricsRefresher[] = [
        { name: 'billing_lag_days', refresh: () => updateLagGauge(db, new Date()) },
        { name: 'billing_anomalies', refresh: () => updateAnomalyGauge(db, new Date()) },
      ];
      if (open) {
        refreshers.push({
          name: 'billing_queue_jobs',
          refresh: () => updateQueueGauges([open.plan, open.bill]),
        });
      }
      const status =
        metricsPort === undefined
          ? undefined
          : await startStatusPort({
              db,
              logger,
              running: () => running,
              timeouts,
              port: metricsPort,
              host: config.BILLING_METRICS_HOST,
              refreshers,
              refreshMs: config.BILLING_METRICS_REFRESH_MS,
            });
      if (status) {
        logger.info(
          {
            port: metricsPort,
            host: config.BILLING_METRICS_HOST,
            refreshMs: config.BILLING_METRICS_REFRESH_MS,
          },
          'metrics and health served on the status port',
        );
      } else {
        logger.info(
          'GET /metrics not served: start with --metrics-port N (or BILLING_METRICS_PORT) to expose it',
        );
      }

      if (!config.BILLING_ADMIN_PASSWORD) {
        logger.warn(
          `console not mounted at ${CONSOLE_PATH}: BILLING_ADMIN_PASSWORD is not set (there is no default password)`,
        );
      } else {
        await registerConsole(app, {
          db,
          user: config.BILLING_ADMIN_USER,
          password: config.BILLING_ADMIN_PASSWORD,
          bill: open?.bill,
        });
        logger.info({ path: CONSOLE_PATH, queueReplay: open !== undefined }, 'console mounted');
      }
      const port = opts.port ?? config.PORT;
      await app.listen({ port, host: config.HOST });
      logger.info({ port, host: config.HOST, timeouts }, 'serving');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          running = false;
          logger.info({ signal }, 'shutting down: finishing requests in flight');
          // A hard limit: a stuck request must not keep the process past the spec's 10 s.
          setTimeout(() => {
            logger.error('requests still running at the shutdown limit: exiting');
            process.exit(1);
          }, SHUTDOWN_LIMIT_MS).unref();
          app.close().then(resolve, resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await status?.close();
      await queues?.close().catch(() => {});
      await redis?.quit().catch(() => redis?.disconnect());
    });
}
