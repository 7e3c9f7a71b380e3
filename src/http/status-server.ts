import Fastify, { type FastifyInstance } from 'fastify';
import type { Db } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { statusRoutes } from './routes/health.route.ts';
import { type HttpTimeouts, timeoutOptions } from './server.ts';

export interface StatusServerOptions {
  db: Db;
  logger: Logger;
  /** False once the process is shutting down: `/healthz` then answers 503. */
  running?: () => boolean;
  timeouts?: Partial<HttpTimeouts>;
}

/**
 * The status port of a process (`billing serve --metrics-port N`, `billing worker --metrics-port
 * N`): `GET /metrics` with this process's metrics and `GET /healthz`. Meant for Prometheus and
 * health checks on an internal address (`BILLING_METRICS_HOST`, loopback by default), because
 * the series carry tenant ids. The gauges read from PostgreSQL or Redis are refreshed by a timer
 * of the process (`startMetricsRefresh`), never by a scrape. Not yet listening.
 */
export function buildStatusServer(options: StatusServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    forceCloseConnections: true,
    ...timeoutOptions(options.timeouts),
  }) as unknown as FastifyInstance;
  app.addHook('onRoute', (route) => {
    route.logLevel = 'warn';
  });
  void app.register(statusRoutes, {
    db: options.db,
    metrics: true,
    ...(options.running ? { running: options.running } : {}),
  });
  return app;
}
