import type { FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import type { Logger } from '../../logger.ts';
import { registry } from '../../metrics.ts';
import { type MetricsRefresher, refreshMetrics } from '../metrics-refresh.ts';

/**
 * `GET /healthz` (200 when the database answers, else 503) and `GET /metrics` (Prometheus text;
 * the `metrics` refreshers run first, each bounded so that a scrape never hangs).
 */
export function healthRoutes(
  app: FastifyInstance,
  deps: { db: Kysely<Database>; logger: Logger; metrics?: readonly MetricsRefresher[] },
) {
  app.get('/healthz', async (_request, reply) => {
    try {
      await sql`SELECT 1`.execute(deps.db);
      return reply.code(200).send({ status: 'ok', database: 'ok' });
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', database: (error as Error).message });
    }
  });
  app.get('/metrics', async (_request, reply) => {
    await refreshMetrics(deps.metrics ?? [], deps.logger);
    return reply
      .code(200)
      .header('content-type', registry.contentType)
      .send(await registry.metrics());
  });
}
