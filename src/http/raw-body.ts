import type { FastifyInstance } from 'fastify';

/** A request body as received: its text, and the JSON value when it parses. */
export type RawBody =
  | { text: string; json: true; value: unknown }
  | { text: string; json: false; error: string };

/**
 * Bodies are read as text and parsed here rather than by fastify's JSON parser, so that a body
 * that is not JSON reaches the route (which keeps it as a reject) instead of failing inside
 * fastify, and so that any content type is accepted (`docs/api.md`: the body is JSON whatever the Content-Type says).
 */
export function registerRawBodyParser(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit }, (_req, body, done) => {
    const text = body as string;
    try {
      done(null, { text, json: true, value: JSON.parse(text) } satisfies RawBody);
    } catch (error) {
      done(null, {
        text,
        json: false,
        error: `body is not valid JSON: ${(error as Error).message}`,
      } satisfies RawBody);
    }
  });
}

export function isRawBody(body: unknown): body is RawBody {
  return typeof body === 'object' && body !== null && 'text' in body && 'json' in body;
}
