import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/database.ts';
import { explainCharges } from '../../insight/explain.service.ts';
import { requireTenantKey, tenantOf } from '../auth.ts';
import { replyBadRequest, replyInsightError } from '../insight-errors.ts';
import { chargesQuerySchema, userParamsSchema } from '../route-schemas.ts';

/** `GET /v1/users/:userId/charges?day=D|month=YYYY-MM`: `billing explain` for the key's tenant. */
export function chargesRoute(app: FastifyInstance, deps: { db: Db; now: () => Date }) {
  app.get('/v1/users/:userId/charges', { onRequest: requireTenantKey(deps.db) }, async (request, reply) => {
    const params = userParamsSchema.safeParse(request.params);
    if (!params.success) return replyBadRequest(reply, 'path', params.error);
    const query = chargesQuerySchema.safeParse(request.query);
    if (!query.success) return replyBadRequest(reply, 'query', query.error);
    try {
      const explanation = await explainCharges(deps.db, {
        tenantId: tenantOf(request),
        userId: params.data.userId,
        day: query.data.day,
        month: query.data.month,
        now: deps.now(),
      });
      return reply.code(200).send(explanation);
    } catch (error) {
      return replyInsightError(reply, error);
    }
  });
}
