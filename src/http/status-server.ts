import Fastify, { type FastifyInstance } from 'fastify';
import type { Db } from '../db/database.ts';
import { OperationError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { type MetricsRefresher, startMetricsRefresh } from './metrics-refresh.ts';
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

export interface StatusPortOptions extends StatusServerOptions {
  port: number;
  host: string;
  /** The gauges read from PostgreSQL or Redis, refreshed every `refreshMs` while the port is up. */
  refreshers: readonly MetricsRefresher[];
  refreshMs: number;
}

export interface StatusPort {
  /** Stops refreshing the gauges (the port still answers). */
  stopRefresh(): Promise<void>;
  /** Stops refreshing and closes the port. */
  close(): Promise<void>;
}

/**
 * Starts the status port of a process: the gauge refresh timer and the status server listening
 * on `host:port`. A port that cannot be taken (busy, no permission) stops the timer again and
 * throws an `OperationError` naming the port and the host, so the process exits instead of
 * running blind.
 */
export async function startStatusPort(options: StatusPortOptions): Promise<StatusPort> {
  const { port, host, logger } = options;
  const app = buildStatusServer(options);
  const refresh = startMetricsRefresh(options.refreshers, { intervalMs: options.refreshMs, logger });
  try {
    await app.listen({ port, host });
  } catch (error) {
    await refresh.stop();
    throw new OperationError(`--metrics-port ${port}: cannot listen on ${host}: ${(error as Error).message}`);
  }
  return {
    stopRefresh: () => refresh.stop(),
    async close() {
      await refresh.stop();
      await app.close().catch(() => {});
    },
  };
}
