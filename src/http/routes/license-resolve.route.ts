import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/database.ts';
import { previewLicense } from '../../ingest/license-preview.ts';
import { requireTenantKey } from '../auth.ts';
import { isRawBody } from '../raw-body.ts';

/** `POST /v1/license/resolve`: the license given settings would need; stores nothing. */
export function licenseResolveRoute(app: FastifyInstance, deps: { db: Db }) {
  app.post('/v1/license/resolve', { onRequest: requireTenantKey(deps.db) }, async (request, reply) => {
    const body = request.body;
    if (!isRawBody(body)) return reply.code(400).send({ error: 'empty body: expected the settings as JSON' });
    if (!body.json) return reply.code(400).send({ error: body.error });
    const preview = previewLicense(body.value);
    if (!preview.ok) return reply.code(400).send({ error: preview.error });
    const { license, billing, addons, reasons } = preview.result;
    return reply.code(200).send({ license, billing, addons, reasons });
  });
}
