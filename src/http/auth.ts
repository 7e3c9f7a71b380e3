import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { authFailures } from '../metrics.ts';
import { checkApiKey, LastUseRecorder } from '../tenancy/api-key.ts';
import { AuthThrottle, type AuthThrottleOptions } from './auth-throttle.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The tenant of the bearer key (set by `requireTenantKey`). */
    tenantId?: string;
  }
  interface FastifyInstance {
    /** Shared by every route of a server (set by `registerTenantAuth`). */
    tenantAuth?: TenantAuth;
  }
}

/** What every `requireTenantKey` hook of one server shares: its clock, throttle and last-use recorder. */
export interface TenantAuth {
  now: () => Date;
  /** The throttle's clock in ms (real time even when `now` is fixed by a test). */
  clockMs: () => number;
  throttle: AuthThrottle;
  lastUse: LastUseRecorder;
}

/**
 * Gives the server's `requireTenantKey` hooks one clock (the time of receipt, against which
 * expiry is judged), one failed-authentication throttle per client address and one last-use
 * recorder. Without it a hook judges expiry against the system clock and neither throttles nor
 * records last use.
 */
export function registerTenantAuth(
  app: FastifyInstance,
  options: { db: Db; now: () => Date; throttle?: AuthThrottleOptions; clockMs?: () => number },
): TenantAuth {
  const auth: TenantAuth = {
    now: options.now,
    clockMs: options.clockMs ?? Date.now,
    throttle: new AuthThrottle(options.throttle),
    lastUse: new LastUseRecorder(options.db),
  };
  app.decorate('tenantAuth', auth);
  return auth;
}

const INVALID_KEY = 'invalid API key';

/**
 * An `onRequest` hook: a request without an active bearer key (unknown, revoked or expired: the
 * same 401 for all three) gets 401 before its body is read, so nothing of it is stored. Failed
 * authentications are counted per client address; past the throttle's burst they get 429 with
 * `Retry-After` instead. A request with a valid key is never throttled.
 */
export function requireTenantKey(db: Db) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const auth = request.server.tenantAuth;
    const now = auth?.now() ?? new Date();
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const check = match ? await checkApiKey(db, match[1] as string, now) : undefined;
    if (check?.ok) {
      request.tenantId = check.tenantId;
      await auth?.lastUse.record(check.keyId, now, (error) =>
        request.log.warn({ err: error, keyId: check.keyId }, 'API key last use not recorded'),
      );
      return;
    }
    const verdict = auth?.throttle.fail(request.ip, auth.clockMs()) ?? { throttled: false };
    authFailures.inc({ outcome: verdict.throttled ? 'throttled' : 'refused' });
    if (verdict.throttled) {
      await reply
        .code(429)
        .header('retry-after', String(verdict.retryAfterSeconds))
        .send({
          error: `too many failed authentications from this address: retry after ${verdict.retryAfterSeconds} s`,
        });
      return;
    }
    // Logged only when not throttled, so that a flood cannot flood the log.
    if (check && (check.reason === 'revoked' || check.reason === 'expired')) {
      request.log.warn(
        { keyId: check.keyId, keyPrefix: check.prefix, reason: check.reason, ip: request.ip },
        `${check.reason} API key refused`,
      );
    }
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send({ error: match ? INVALID_KEY : 'missing bearer API key (Authorization: Bearer <key>)' });
  };
}

export function tenantOf(request: FastifyRequest): string {
  if (request.tenantId === undefined) throw new Error('route registered without requireTenantKey');
  return request.tenantId;
}
