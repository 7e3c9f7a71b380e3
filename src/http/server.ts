import type { ServerOptions as NodeServerOptions } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from '../config.ts';
import type { Db } from '../db/database.ts';
import { AppError } from '../errors.ts';
import { EventIngestor } from '../ingest/event-ingest.service.ts';
import { GroupCommit } from '../ingest/group-commit.ts';
import type { Logger } from '../logger.ts';
import { registerTenantAuth } from './auth.ts';
import type { AuthThrottleOptions } from './auth-throttle.ts';
import { isConnectionError } from './connection-errors.ts';
import { registerRawBodyParser } from './raw-body.ts';
import { chargesRoute } from './routes/charges.route.ts';
import { statusRoutes } from './routes/health.route.ts';
import { licenseResolveRoute } from './routes/license-resolve.route.ts';
import { loginEventsRoute } from './routes/login-events.route.ts';
import { openApiRoute } from './routes/openapi.route.ts';
import { usageRoute } from './routes/usage.route.ts';
import { userSettingsRoute } from './routes/user-settings.route.ts';

/**
 * How long a client may take, in milliseconds. Node checks them about once a second here
 * (`connectionsCheckingInterval`), so a limit is enforced within a second of passing.
 */
export interface HttpTimeouts {
  /** Receiving one whole request, headers and body (Node `requestTimeout`); answered 408. */
  requestMs: number;
  /** Receiving the headers (Node `headersTimeout`; at most `requestMs`); answered 408. */
  headersMs: number;
  /** An idle keep-alive connection between two requests is closed after this (`keepAliveTimeout`). */
  keepAliveMs: number;
  /** A socket with no bytes in either direction is destroyed after this (fastify `connectionTimeout`). */
  idleMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  requestMs: 30_000,
  headersMs: 10_000,
  keepAliveMs: 5_000,
  idleMs: 60_000,
};

/** The limits from the environment (`BILLING_HTTP_*_TIMEOUT_MS`). */
export function httpTimeouts(config: Config): HttpTimeouts {
  return {
    requestMs: config.BILLING_HTTP_REQUEST_TIMEOUT_MS,
    headersMs: config.BILLING_HTTP_HEADERS_TIMEOUT_MS,
    keepAliveMs: config.BILLING_HTTP_KEEPALIVE_TIMEOUT_MS,
    idleMs: config.BILLING_HTTP_IDLE_TIMEOUT_MS,
  };
}

/** The fastify options that apply `timeouts` to the underlying Node server. */
export function timeoutOptions(timeouts: Partial<HttpTimeouts> = {}) {
  const t = { ...DEFAULT_HTTP_TIMEOUTS, ...timeouts };
  // Node refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(t.headersMs, t.requestMs);
  const http: NodeServerOptions = {
    requestTimeout: t.requestMs,
    headersTimeout,
    keepAliveTimeout: t.keepAliveMs,
    // Node's default checks every 30 s, which would let a 10 s limit run to 40 s.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(headersTimeout / 4))),
  };
  return {
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    connectionTimeout: t.idleMs,
    http,
  };
}

export interface ServerOptions {
  db: Db;
  logger: Logger;
  /** The clock (time of receipt); tests pass a fixed one. */
  now?: () => Date;
  /** Largest body accepted, in bytes; default 16 MiB (10,000 events of up to ~1.6 kB each). */
  bodyLimit?: number;
  /**
   * Handle one request at a time. Required on the embedded database (PGlite runs one query at a
   * time: a query on another connection while a transaction is open would wait forever).
   */
  serialize?: boolean;
  /** Request, headers, keep-alive and idle limits; `DEFAULT_HTTP_TIMEOUTS` for what is not given. */
  timeouts?: Partial<HttpTimeouts>;
  /** The failed-authentication throttle per client address (default 10 failures, refilled in 60 s). */
  authThrottle?: AuthThrottleOptions;
  /**
   * Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client: its
   * address is then the one the throttle counts. Empty or absent: the TCP peer, header ignored.
   */
  trustedProxies?: readonly string[];
}

/**
 * The HTTP API of `docs/api.md` plus `/healthz`, not yet listening: the caller (`billing serve`,
 * tests) calls `listen`, and may register more plugins first (the queue dashboard). Every route
 * acknowledges only after its transaction committed. `/metrics` is not here: it names tenants,
 * so it is served on the status port (`buildStatusServer`), never on the public one.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const now = options.now ?? (() => new Date());
  const bodyLimit = options.bodyLimit ?? 16 * 1024 * 1024;
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit,
    ...timeoutOptions(options.timeouts),
    // Requests in flight finish on close(); idle keep-alive sockets are closed at once.
    forceCloseConnections: 'idle',
    // A path parameter is limited by its encoded length: 200 characters (`userId`) of up to 9
    // percent-encoded bytes each (a 3-byte UTF-8 character) = 1800; the schema checks the rest.
    routerOptions: { maxParamLength: 1800 },
    // Only the listed proxies may name the client; anyone else's X-Forwarded-For is ignored.
    trustProxy: options.trustedProxies?.length ? [...options.trustedProxies] : false,
  }) as unknown as FastifyInstance;
  // Per-request access logs at info would cost more than the ingest itself at 50k events/s:
  // routes log warnings and errors only.
  if (options.logger.level === 'info') {
    app.addHook('onRoute', (route) => {
      route.logLevel = 'warn';
    });
  }
  // A response finished while shutting down closes its keep-alive connection, so that close()
  // does not wait for the client to hang up.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  registerRawBodyParser(app, bodyLimit);
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    if (error.statusCode === undefined && isConnectionError(error)) {
      // The database is restarting or failing over: nothing of this request was committed,
      // so the client should send it again (the same events come back as duplicates if it was).
      request.log.warn({ err: error }, 'database unavailable: answered 503');
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({ error: 'database unavailable: nothing was stored; retry the request' });
    }
    // Bad input a service refused (AppError exit 2) is a 400 with its message, never a 500.
    const status = error.statusCode ?? (error instanceof AppError && error.exitCode === 2 ? 400 : 500);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const message =
      status === 413
        ? `body larger than ${bodyLimit} bytes: nothing was stored; split the batch`
        : error.message;
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : message });
  });
  if (options.serialize) serializeRequests(app);
  registerTenantAuth(app, {
    db: options.db,
    now,
    ...(options.authThrottle ? { throttle: options.authThrottle } : {}),
  });
  const ingestor = new EventIngestor(options.db, now);
  // Concurrent requests' batches share a transaction (group commit): two open at a time, so the
  // database works on two cores, each of at most 2,000 events, so a request waits behind little.
  // Measured quietly with 8 requests of 1,000 in flight (docs/performance/ingest.md, tenth pass):
  // one at a time of up to 10,000 events, 46k events/s and p99 256 ms; two of up to 2,000,
  // 60-64k events/s and p99 198-262 ms.
  const commits = new GroupCommit(ingestor, { source: 'http' }, { maxInFlight: 2, maxEvents: 2_000 });
  loginEventsRoute(app, { db: options.db, commits, now });
  userSettingsRoute(app, { db: options.db, now });
  licenseResolveRoute(app, { db: options.db });
  chargesRoute(app, { db: options.db, now });
  usageRoute(app, { db: options.db, now });
  openApiRoute(app);
  void app.register(statusRoutes, { db: options.db, metrics: false });
  return app;
}

/**
 * A FIFO lock around each request's handling, from `preHandler` (the body has been received
 * and parsed) to the response. Not taken earlier: a client that sends its headers and then
 * never finishes its body would otherwise hold the lock, and every other request (`/healthz`
 * too) would wait behind it until the request timeout. Authentication (`onRequest`) runs
 * outside the lock; its one-row query simply waits its turn on the embedded database.
 */
function serializeRequests(app: FastifyInstance): void {
  let tail: Promise<void> = Promise.resolve();
  const releases = new WeakMap<object, () => void>();
  app.addHook('preHandler', async (request) => {
    const previous = tail;
    let release: () => void = () => {};
    tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    releases.set(request, release);
    await previous;
  });
  const done = async (request: object) => {
    releases.get(request)?.();
    releases.delete(request);
  };
  app.addHook('onResponse', done);
  app.addHook('onRequestAbort', done);
}
