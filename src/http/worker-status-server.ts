import Fastify, { type FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { registry } from '../metrics.ts';
import { type MetricsRefresher, refreshMetrics } from './metrics-refresh.ts';

export interface WorkerStatusOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** False once the worker is shutting down: `/healthz` then answers 503. */
  running: () => boolean;
  /** Gauges refreshed at each scrape (the queue counts), each bounded by a timeout. */
  metrics?: readonly MetricsRefresher[];
}

/**
 * The worker's own small HTTP server (`billing worker --metrics-port N`): `GET /metrics` with this
 * process's metrics (runs are counted in the process that bills them) and `GET /healthz`, 200
 * while the worker runs and its database answers, else 503. Not yet listening.
 */
export function buildWorkerStatusServer(options: WorkerStatusOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger,
    forceCloseConnections: true,
  }) as unknown as FastifyInstance;
  app.addHook('onRoute', (route) => {
    route.logLevel = 'warn';
  });
  app.get('/healthz', async (_request, reply) => {
    if (!options.running()) return reply.code(503).send({ status: 'stopping' });
    try {
      await sql`SELECT 1`.execute(options.db);
      return reply.code(200).send({ status: 'ok', database: 'ok' });
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', database: (error as Error).message });
    }
  });
  app.get('/metrics', async (_request, reply) => {
    await refreshMetrics(options.metrics ?? [], options.logger);
    return reply
      .code(200)
      .header('content-type', registry.contentType)
      .send(await registry.metrics());
  });
  return app;
}
