import { z } from 'zod';
import { ROUTE_SPECS, type RouteSpec } from './route-schemas.ts';

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema; requests as input, responses as output. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
  delete out.$schema;
  return out;
}

function parameters(route: RouteSpec): JsonSchema[] {
  const list: JsonSchema[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const json = jsonSchema(schema, 'input') as {
      properties?: Record<string, JsonSchema>;
      required?: string[];
    };
    for (const [name, s] of Object.entries(json.properties ?? {})) {
      const { description, ...rest } = s;
      list.push({
        name,
        in: where,
        required: where === 'path' || (json.required ?? []).includes(name),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  }
  return list;
}

/**
 * The OpenAPI 3.1 document of every route, generated from the zod schemas the routes validate
 * with (`route-schemas.ts`).
 */
export function buildOpenApiDocument(version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ROUTE_SPECS) {
    const op: JsonSchema = {
      summary: route.summary,
      operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      ...(route.auth ? { security: [{ tenantKey: [] }] } : {}),
      parameters: parameters(route),
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([code, r]) => [
          code,
          {
            description: r.description,
            content: r.schema
              ? { 'application/json': { schema: jsonSchema(r.schema, 'output') } }
              : { [r.contentType ?? 'text/plain']: { schema: { type: 'string' } } },
          },
        ]),
      ),
    };
    if (route.body) {
      op.requestBody = {
        required: true,
        content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
      };
    }
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, JsonSchema>)[route.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'billing',
      version,
      description:
        'Metering and billing: ingest, settings, license preview, charge explanations and usage. Amounts are integer minor units of `currency`.',
    },
    components: {
      securitySchemes: {
        tenantKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'the tenant API key (billing tenants key)',
        },
      },
    },
    paths,
  };
}
