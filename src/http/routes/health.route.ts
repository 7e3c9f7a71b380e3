import type { FastifyPluginAsync } from 'fastify';
import { pingDatabase } from '../../db/connection.ts';
import type { Db } from '../../db/database.ts';
import { registry } from '../../metrics.ts';

export interface StatusRoutesOptions {
  db: Db;
  /** False once the process is shutting down: `/healthz` then answers 503. Default: always true. */
  running?: () => boolean;
  /** Also serve `GET /metrics`. Only on a port that is not public: the series carry tenant ids. */
  metrics: boolean;
  /** The database check of `/healthz` gives up after this long (503); default 2 s. */
  healthTimeoutMs?: number;
}

/**
 * One fastify plugin for the status routes of every process (`serve`'s public port, `serve
 * --metrics-port`, `worker --metrics-port`):
 * - `GET /healthz`: `{"status":"ok"}` (200) when the process runs and the database answers,
 *   else `{"status":"unavailable"}` (503). Nothing else: the cause goes to the log, never to
 *   the caller (it would tell anyone the database's address and state).
 * - `GET /metrics` (when `metrics`): the Prometheus text of the process registry. It reads no
 *   database: gauges from PostgreSQL and Redis are set by the refresh timer
 *   (`startMetricsRefresh`), so a scrape serves the last refresh.
 */
export const statusRoutes: FastifyPluginAsync<StatusRoutesOptions> = async (app, options) => {
  const healthTimeoutMs = options.healthTimeoutMs ?? 2_000;
  app.get('/healthz', async (request, reply) => {
    reply.header('cache-control', 'no-store');
    if (options.running && !options.running()) {
      request.log.info('health check: shutting down, answered 503');
      return reply.code(503).send({ status: 'unavailable' });
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        pingDatabase(options.db),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the database did not answer within ${healthTimeoutMs} ms`)),
            healthTimeoutMs,
          );
        }),
      ]);
      return reply.code(200).send({ status: 'ok' });
    } catch (error) {
      request.log.warn({ err: error }, 'health check failed: database unavailable, answered 503');
      return reply.code(503).send({ status: 'unavailable' });
    } finally {
      clearTimeout(timer);
    }
  });
  if (options.metrics) {
    app.get('/metrics', async (_request, reply) =>
      reply
        .code(200)
        .header('content-type', registry.contentType)
        .header('cache-control', 'no-store')
        .send(await registry.metrics()),
    );
  }
};
