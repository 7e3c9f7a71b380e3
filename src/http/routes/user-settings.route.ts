import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/database.ts';
import { describeZodError } from '../../domain/settings.ts';
import { storeSettingsVersion, toSettingsVersion } from '../../ingest/settings-import.service.ts';
import { settingsVersionBodySchema, userIdSchema } from '../../ingest/settings-version.schema.ts';
import { requireTenantKey, tenantOf } from '../auth.ts';
import { isRawBody } from '../raw-body.ts';

/**
 * `PUT /v1/users/:userId/settings`: stores a settings version of the key's tenant (effective now
 * unless `effectiveAt` says otherwise) and answers the resolved license with its reasons.
 * 200 stored or already stored identically; 409 the same (user, effectiveAt) with other content.
 */
export function userSettingsRoute(app: FastifyInstance, deps: { db: Db; now: () => Date }) {
  app.put<{ Params: { userId: string } }>(
    '/v1/users/:userId/settings',
    { onRequest: requireTenantKey(deps.db) },
    async (request, reply) => {
      const tenantId = tenantOf(request);
      const user = userIdSchema.safeParse(request.params.userId);
      if (!user.success) {
        const problems = user.error.issues.map((i) => i.message).join('; ');
        return reply.code(400).send({ error: `userId: ${problems} (the path parameter)` });
      }
      const body = request.body;
      if (!isRawBody(body))
        return reply.code(400).send({ error: 'empty body: expected the settings as JSON' });
      if (!body.json) return reply.code(400).send({ error: body.error });
      const parsed = settingsVersionBodySchema.safeParse(body.value);
      if (!parsed.success) return reply.code(400).send({ error: describeZodError(parsed.error) });
      const receivedAt = deps.now();
      const version = toSettingsVersion({
        ...parsed.data,
        tenantId,
        userId: user.data,
        effectiveAt: parsed.data.effectiveAt ?? receivedAt,
      });
      const outcome = await storeSettingsVersion(deps.db, version, receivedAt);
      if (outcome.status === 'conflict') return reply.code(409).send({ error: outcome.reason });
      const { license, billing, addons, reasons } = version.result;
      return reply.code(200).send({
        status: outcome.status,
        tenantId,
        userId: user.data,
        effectiveAt: version.effectiveAt.toISOString(),
        license,
        billing,
        addons,
        reasons,
      });
    },
  );
}
