import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { buildOpenApiDocument } from '../openapi.ts';

/** The package's version, from src/ (tsx) or dist/src/ (built). */
function packageVersion(): string {
  for (const up of ['../../../package.json', '../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'billing' && pkg.version) return pkg.version;
    } catch {
      // not there: try the next level
    }
  }
  return '0.0.0';
}

/** `GET /openapi.json`: the OpenAPI 3.1 document, generated once from the route schemas. */
export function openApiRoute(app: FastifyInstance) {
  const document = buildOpenApiDocument(packageVersion());
  app.get('/openapi.json', async (_request, reply) => reply.code(200).send(document));
}
