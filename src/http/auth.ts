import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { authenticateApiKey } from '../tenancy/api-key.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant of the bearer key (set by `requireTenantKey`). */
    tenantId?: string;
  }
}

/**
 * An `onRequest` hook: a request without a valid bearer key gets 401 before its body is read,
 * so nothing of it is stored.
 */
export function requireTenantKey(db: Db) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const tenantId = match ? await authenticateApiKey(db, match[1] as string) : undefined;
    if (tenantId === undefined) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: match ? 'invalid API key' : 'missing bearer API key (Authorization: Bearer <key>)' });
      return;
    }
    request.tenantId = tenantId;
  };
}

export function tenantOf(request: FastifyRequest): string {
  if (request.tenantId === undefined) throw new Error('route registered without requireTenantKey');
  return request.tenantId;
}
