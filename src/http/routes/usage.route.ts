import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/database.ts';
import { monthUsage } from '../../insight/usage.service.ts';
import { requireTenantKey, tenantOf } from '../auth.ts';
import { replyBadRequest, replyInsightError } from '../insight-errors.ts';
import { usageQuerySchema } from '../route-schemas.ts';

/** `GET /v1/usage?month=YYYY-MM`: the key's tenant's month to date (never another tenant's). */
export function usageRoute(app: FastifyInstance, deps: { db: Db; now: () => Date }) {
  app.get('/v1/usage', { onRequest: requireTenantKey(deps.db) }, async (request, reply) => {
    const query = usageQuerySchema.safeParse(request.query);
    if (!query.success) return replyBadRequest(reply, 'query', query.error);
    try {
      return reply.code(200).send(
        await monthUsage(deps.db, {
          tenantId: tenantOf(request),
          month: query.data.month,
          now: deps.now(),
        }),
      );
    } catch (error) {
      return replyInsightError(reply, error);
    }
  });
}
