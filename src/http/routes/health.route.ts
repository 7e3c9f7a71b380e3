import type { FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../db/database.ts';
import { registry } from '../../metrics.ts';

/** `GET /healthz` (200 when the database answers, else 503) and `GET /metrics` (Prometheus text). */
export function healthRoutes(app: FastifyInstance, deps: { db: Kysely<Database> }) {
  app.get('/healthz', async (_request, reply) => {
    try {
      await sql`SELECT 1`.execute(deps.db);
      return reply.code(200).send({ status: 'ok', database: 'ok' });
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', database: (error as Error).message });
    }
  });
  app.get('/metrics', async (_request, reply) => {
    return reply
      .code(200)
      .header('content-type', registry.contentType)
      .send(await registry.metrics());
  });
}
