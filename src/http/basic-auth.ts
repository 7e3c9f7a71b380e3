import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** SHA-256 first, so that both sides have the same length and the comparison leaks nothing. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * An `onRequest` hook for HTTP Basic authentication (RFC 7617) against one user and password,
 * compared in constant time (user and password are both always compared, so a wrong user takes
 * as long as a wrong password). Anything else answers 401 with `WWW-Authenticate: Basic`.
 * The credentials are never logged.
 */
export function requireBasicAuth(user: string, password: string, realm = 'billing') {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
    const decoded = match ? Buffer.from(match[1] as string, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const okUser = sameSecret(colon < 0 ? '' : decoded.slice(0, colon), user);
    const okPassword = sameSecret(colon < 0 ? '' : decoded.slice(colon + 1), password);
    if (match && colon >= 0 && okUser && okPassword) return;
    await reply
      .code(401)
      .header('www-authenticate', `Basic realm="${realm}", charset="UTF-8"`)
      .send({ error: 'authentication required' });
  };
}
