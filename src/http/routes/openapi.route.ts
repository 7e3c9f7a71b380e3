import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument } from '../openapi.ts';

/**
 * The version of the HTTP API the document describes (OpenAPI `info.version`): raised when a
 * route or a schema changes in a way a client sees, not with every release of the program.
 */
export const API_VERSION = '1.1.0';

/** `GET /openapi.json`: the OpenAPI 3.1 document, generated once from the route schemas. */
export function openApiRoute(app: FastifyInstance) {
  const document = buildOpenApiDocument(API_VERSION);
  app.get('/openapi.json', async (_request, reply) => reply.code(200).send(document));
}
