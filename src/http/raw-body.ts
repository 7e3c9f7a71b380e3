import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';

/**
 * A request body as received: its bytes, its text, and the JSON value when it parses. `text` is
 * the UTF-8 decoding of `bytes` (lossy only when `json` is false for a body that is not UTF-8:
 * keep `bytes` then).
 */
export type RawBody =
  | { bytes: Buffer; text: string; json: true; value: unknown }
  | { bytes: Buffer; text: string; json: false; error: string };

/**
 * Bodies are read as bytes and parsed here rather than by fastify's JSON parser, so that a body
 * that is not JSON (or not UTF-8) reaches the route (which keeps it, byte for byte, as a reject)
 * instead of failing inside fastify, and so that any content type is accepted (`docs/api.md`: the
 * body is JSON whatever the Content-Type says).
 */
export function registerRawBodyParser(app: FastifyInstance, bodyLimit: number): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => {
    done(null, parseRawBody(body as Buffer));
  });
}

/**
 * Decodes and parses a body; never throws. The UTF-8 check (`isUtf8`, strict as a fatal
 * `TextDecoder`) and the decoding are Node's native ones: cheaper than a fatal `TextDecoder`.
 */
export function parseRawBody(bytes: Buffer): RawBody {
  if (!isUtf8(bytes)) {
    return {
      bytes,
      text: bytes.toString('utf8'),
      json: false,
      error: 'body is not valid UTF-8 (JSON text must be UTF-8)',
    };
  }
  const text = bytes.toString('utf8');
  try {
    return { bytes, text, json: true, value: JSON.parse(text) };
  } catch (error) {
    return { bytes, text, json: false, error: `body is not valid JSON: ${(error as Error).message}` };
  }
}

export function isRawBody(body: unknown): body is RawBody {
  return typeof body === 'object' && body !== null && 'text' in body && 'json' in body;
}
