import Fastify, { type FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { updateAnomalyGauge, updateLagGauge } from '../../jobs/gauges.ts';
import type { Database } from '../db/database.ts';
import { EventIngestor } from '../ingest/event-ingest.service.ts';
import type { Logger } from '../logger.ts';
import { isConnectionError } from './connection-errors.ts';
import type { MetricsRefresher } from './metrics-refresh.ts';
import { registerRawBodyParser } from './raw-body.ts';
import { chargesRoute } from './routes/charges.route.ts';
import { healthRoutes } from './routes/health.route.ts';
import { licenseResolveRoute } from './routes/license-resolve.route.ts';
import { loginEventsRoute } from './routes/login-events.route.ts';
import { openApiRoute } from './routes/openapi.route.ts';
import { usageRoute } from './routes/usage.route.ts';
import { userSettingsRoute } from './routes/user-settings.route.ts';

export interface ServerOptions {
  db: Kysely<Database>;
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
  /**
   * Gauges refreshed at each `/metrics` scrape besides billing lag (which is always computed
   * from the database at the scrape instant): `billing serve` adds the queue counts.
   */
  metrics?: readonly MetricsRefresher[];
}

/**
 * The HTTP API of `ingest.md` plus `/healthz` and `/metrics`, not yet listening: the caller
 * (`billing serve`, tests) calls `listen`, and may register more plugins first (the queue
 * dashboard). Every route acknowledges only after its transaction committed.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const now = options.now ?? (() => new Date());
  const bodyLimit = options.bodyLimit ?? 16 * 1024 * 1024;
  const app = Fastify({
    loggerInstance: options.logger,
    bodyLimit,
    // Requests in flight finish on close(); idle keep-alive sockets are closed at once.
    forceCloseConnections: 'idle',
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
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const message =
      status === 413
        ? `body larger than ${bodyLimit} bytes: nothing was stored; split the batch`
        : error.message;
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : message });
  });
  if (options.serialize) serializeRequests(app);
  const ingestor = new EventIngestor(options.db, now);
  loginEventsRoute(app, { db: options.db, ingestor, now });
  userSettingsRoute(app, { db: options.db, now });
  licenseResolveRoute(app, { db: options.db });
  chargesRoute(app, { db: options.db, now });
  usageRoute(app, { db: options.db, now });
  openApiRoute(app);
  const lag: MetricsRefresher = {
    name: 'billing_lag_days',
    refresh: () => updateLagGauge(options.db, now()),
  };
  const anomalies: MetricsRefresher = {
    name: 'billing_anomalies',
    refresh: () => updateAnomalyGauge(options.db, now()),
  };
  healthRoutes(app, {
    db: options.db,
    logger: options.logger,
    metrics: [lag, anomalies, ...(options.metrics ?? [])],
  });
  return app;
}

/** A FIFO lock around each request, from before authentication to the response. */
function serializeRequests(app: FastifyInstance): void {
  let tail: Promise<void> = Promise.resolve();
  const releases = new WeakMap<object, () => void>();
  app.addHook('onRequest', async (request) => {
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
