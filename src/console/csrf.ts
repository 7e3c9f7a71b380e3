import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const CSRF_COOKIE = 'billing_console_csrf';
export const CSRF_FIELD = 'csrf';

function cookieValue(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * CSRF protection for the console's POSTs (close a month, queue a replay), two locks:
 * - a random nonce in a `SameSite=Strict; HttpOnly` cookie, set with the first page, and a
 *   form token = HMAC(key, nonce + user) that only a page rendered by this server carries;
 *   the key is derived from the admin password, so every replica of `serve` agrees on it and
 *   changing the password voids every token;
 * - a POST whose `Origin` (or, without it, `Referer`) names another host is refused.
 * A cross-site form post has neither the cookie (SameSite) nor the token (it cannot read pages).
 */
export class CsrfGuard {
  private readonly key: Buffer;

  constructor(password: string) {
    this.key = createHash('sha256').update(`billing-console-csrf\u0000${password}`, 'utf8').digest();
  }

  private sign(nonce: string, user: string): string {
    return createHmac('sha256', this.key).update(`${nonce}\u0000${user}`, 'utf8').digest('base64url');
  }

  /** The token for the forms of this response; sets the nonce cookie when the browser has none. */
  token(request: FastifyRequest, reply: FastifyReply, user: string): string {
    let nonce = cookieValue(request, CSRF_COOKIE);
    if (nonce === undefined || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) {
      nonce = randomBytes(32).toString('base64url');
      reply.header(
        'set-cookie',
        `${CSRF_COOKIE}=${nonce}; Path=/console; HttpOnly; SameSite=Strict${request.protocol === 'https' ? '; Secure' : ''}`,
      );
    }
    return this.sign(nonce, user);
  }

  /** Why a POST fails the check, or undefined when it passes. */
  refusal(request: FastifyRequest, form: URLSearchParams, user: string): string | undefined {
    const origin = request.headers.origin ?? request.headers.referer;
    if (origin !== undefined) {
      let host: string | undefined;
      try {
        host = new URL(origin).host;
      } catch {
        host = undefined;
      }
      if (host !== request.headers.host) return `the request comes from another site (${origin})`;
    }
    const nonce = cookieValue(request, CSRF_COOKIE);
    const given = form.get(CSRF_FIELD);
    if (nonce === undefined) return 'the console cookie is missing: open the page again and retry';
    if (!given) return 'the form token is missing: open the page again and retry';
    const a = Buffer.from(given, 'utf8');
    const b = Buffer.from(this.sign(nonce, user), 'utf8');
    if (a.length !== b.length || !timingSafeEqual(a, b))
      return 'the form token does not match: open the page again and retry';
    return undefined;
  }
}
