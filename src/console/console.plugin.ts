import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { isValidDay, isValidMonth, monthOf } from '../domain/calendar.ts';
import { InputError } from '../errors.ts';
import { requireBasicAuth } from '../http/basic-auth.ts';
import { isConnectionError } from '../http/connection-errors.ts';
import { isRawBody } from '../http/raw-body.ts';
import { httpStatusOf } from '../insight/errors.ts';
import type { Logger } from '../logger.ts';
import { actionOutcome, closeMonthAction, queueReplayAction } from './actions.service.ts';
import { CsrfGuard } from './csrf.ts';
import { consoleDay, previewReplay, type ReplayPreview } from './day.service.ts';
import type { Html } from './html.ts';
import { html } from './html.ts';
import { consoleMonth, invoiceCsvStream } from './month.service.ts';
import { consoleOverview } from './overview.service.ts';
import { consoleRejects, type REJECT_SOURCES } from './reject-list.service.ts';
import { consoleUser } from './user.service.ts';
import { confirmView } from './views/confirm.view.ts';
import { dayView } from './views/day.view.ts';
import { errorView } from './views/error.view.ts';
import { enc } from './views/format.ts';
import { monthView } from './views/month.view.ts';
import { overviewView } from './views/overview.view.ts';
import { rejectsView } from './views/rejects.view.ts';
import { userView } from './views/user.view.ts';

export const CONSOLE_PATH = '/console';

export interface ConsoleOptions {
  db: Db;
  /** The admin credentials (HTTP Basic); the user is who the audit trail names. */
  user: string;
  password: string;
  /** The bill queue, for "queue replay"; without it the console offers no queue replay. */
  bill?: Queue | undefined;
  /** The business clock; tests pass a fixed one. */
  now?: () => Date;
  logger?: Logger;
}

type Query = Record<string, string | string[] | undefined>;
type Params = { tenantId: string; month: string; day: string; userId: string };

/** The first value of a query parameter; empty means absent. */
function q(request: FastifyRequest, name: string): string | undefined {
  const v = (request.query as Query)[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

function form(request: FastifyRequest): URLSearchParams {
  return new URLSearchParams(isRawBody(request.body) ? request.body.text : '');
}

function send(reply: FastifyReply, page: Html, status = 200): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(page.value);
}

/** A tenant-day from the path, validated here so that every page names a bad one the same way. */
function requireDay(day: string): string {
  if (!isValidDay(day)) throw new InputError(`day: invalid day "${day}": expected YYYY-MM-DD`);
  return day;
}

function requireMonth(month: string): string {
  if (!isValidMonth(month)) throw new InputError(`month: invalid month "${month}": expected YYYY-MM`);
  return month;
}

/**
 * The console under `/console` (docs/console.md), in its own encapsulated context: HTTP Basic
 * auth on every route, security headers, HTML error pages, CSRF checks on POSTs. Routes parse,
 * call one service and render a view. Call before `listen`.
 */
export async function registerConsole(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  if (!options.password) throw new Error('the console needs a password');
  const { db } = options;
  const now = options.now ?? (() => new Date());
  const csrf = new CsrfGuard(options.password);
  const actor = options.user;

  await app.register(async (scope) => {
    scope.addHook('onRequest', requireBasicAuth(options.user, options.password, 'billing console'));
    scope.addHook('onSend', async (_request, reply, payload) => {
      reply.header(
        'content-security-policy',
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      reply.header('x-content-type-options', 'nosniff');
      reply.header('x-frame-options', 'DENY');
      reply.header('referrer-policy', 'same-origin');
      reply.header('cache-control', 'no-store');
      return payload;
    });
    scope.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
      if (error instanceof InputError)
        return send(reply, errorView(httpStatusOf(error), error.message), httpStatusOf(error));
      if (error.statusCode !== undefined && error.statusCode < 500)
        return send(reply, errorView(error.statusCode, error.message), error.statusCode);
      const unavailable = isConnectionError(error);
      request.log.error({ err: error }, 'console request failed');
      return send(
        reply,
        errorView(
          503,
          unavailable ? 'The database is unavailable; try again in a moment.' : 'Internal error (logged).',
        ),
        unavailable ? 503 : 500,
      );
    });

    scope.get(CONSOLE_PATH, async (_request, reply) => {
      const at = now();
      return send(reply, overviewView(await consoleOverview(db, at), at));
    });

    scope.get(`${CONSOLE_PATH}/tenants/:tenantId/months/:month`, async (request, reply) => {
      const { tenantId, month } = request.params as Params;
      const data = await consoleMonth(db, { tenantId, month: requireMonth(month), now: now() });
      return send(reply, monthView(data, await actionOutcome(db, tenantId, q(request, 'audit'))));
    });

    scope.get(`${CONSOLE_PATH}/tenants/:tenantId/months/:month/invoice.csv`, async (request, reply) => {
      const { tenantId, month } = request.params as Params;
      const csv = await invoiceCsvStream(db, { tenantId, month });
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="invoice-${tenantId}-${month}.csv"`)
        .send(csv);
    });

    scope.get(`${CONSOLE_PATH}/tenants/:tenantId/months/:month/close`, async (request, reply) => {
      const { tenantId, month } = request.params as Params;
      const data = await consoleMonth(db, { tenantId, month: requireMonth(month), now: now() });
      const back = `${CONSOLE_PATH}/tenants/${enc(tenantId)}/months/${month}`;
      return send(
        reply,
        confirmView({
          title: `Close ${month} of ${data.tenant.name}?`,
          crumbs: [
            { label: 'Overview', href: CONSOLE_PATH },
            { label: `${tenantId} ${month}`, href: back },
            { label: 'close' },
          ],
          explanation: html`<p>Closing ${month} makes its ${data.days.filter((d) => d.runId).length} billed days final. The invoice of ${month} stays as it is now; later corrections to its days are written as adjustment lines into the next open month. This cannot be undone from the console.</p>`,
          refusals: data.close.refusals,
          action: `${back}/close`,
          csrf: csrf.token(request, reply, actor),
          button: `Close ${month}`,
          cancelHref: back,
        }),
      );
    });

    scope.post(`${CONSOLE_PATH}/tenants/:tenantId/months/:month/close`, async (request, reply) => {
      const { tenantId, month } = request.params as Params;
      const body = form(request);
      const refusal = csrf.refusal(request, body, actor);
      if (refusal) return send(reply, errorView(403, `CSRF check failed: ${refusal}`), 403);
      const back = `${CONSOLE_PATH}/tenants/${enc(tenantId)}/months/${month}`;
      if (body.get('confirm') !== 'yes') return reply.redirect(`${back}/close`, 303);
      const result = await closeMonthAction(db, { tenantId, month: requireMonth(month), now: now(), actor });
      return reply.redirect(`${back}?audit=${result.auditId}#close-h`, 303);
    });

    scope.get(`${CONSOLE_PATH}/tenants/:tenantId/days/:day`, async (request, reply) => {
      const { tenantId, day } = request.params as Params;
      const afterUser = q(request, 'afterUser');
      const diffAfterUser = q(request, 'diffAfterUser');
      const from = q(request, 'from');
      const to = q(request, 'to');
      const data = await consoleDay(db, {
        tenantId,
        day: requireDay(day),
        runId: q(request, 'run'),
        userPrefix: q(request, 'user'),
        after:
          afterUser !== undefined ? { userId: afterUser, item: q(request, 'afterItem') ?? '' } : undefined,
        diff:
          from !== undefined && to !== undefined
            ? {
                from,
                to,
                after:
                  diffAfterUser !== undefined
                    ? { userId: diffAfterUser, item: q(request, 'diffAfterItem') ?? '' }
                    : undefined,
              }
            : undefined,
      });
      let preview: ReplayPreview | { error: string } | undefined;
      if (q(request, 'preview') === '1') {
        try {
          preview = await previewReplay(db, { tenantId, day, now: now() });
        } catch (error) {
          if (!(error instanceof InputError)) throw error;
          preview = { error: error.message };
        }
      }
      return send(
        reply,
        dayView({
          page: data,
          userPrefix: q(request, 'user'),
          preview,
          flash: await actionOutcome(db, tenantId, q(request, 'audit')),
          canQueue: options.bill !== undefined,
        }),
      );
    });

    scope.get(`${CONSOLE_PATH}/tenants/:tenantId/days/:day/queue-replay`, async (request, reply) => {
      const { tenantId, day } = request.params as Params;
      const data = await consoleDay(db, { tenantId, day: requireDay(day) });
      const back = `${CONSOLE_PATH}/tenants/${enc(tenantId)}/days/${day}`;
      return send(
        reply,
        confirmView({
          title: `Queue a replay of ${day} for ${data.tenant.name}?`,
          crumbs: [
            { label: 'Overview', href: CONSOLE_PATH },
            {
              label: `${tenantId} ${monthOf(day)}`,
              href: `${CONSOLE_PATH}/tenants/${enc(tenantId)}/months/${monthOf(day)}`,
            },
            { label: day, href: back },
            { label: 'queue replay' },
          ],
          explanation: html`<p>A worker will re-bill ${day} from the data as it is then: a new current run (the current one is kept, superseded), or adjustment lines in the next open month if ${monthOf(day)} is closed. Run a dry run first to see what would change.</p>`,
          refusals: options.bill === undefined ? ['serve runs without REDIS_URL: there is no queue'] : [],
          action: `${back}/queue-replay`,
          csrf: csrf.token(request, reply, actor),
          button: 'Queue replay',
          cancelHref: back,
        }),
      );
    });

    scope.post(`${CONSOLE_PATH}/tenants/:tenantId/days/:day/queue-replay`, async (request, reply) => {
      const { tenantId, day } = request.params as Params;
      const body = form(request);
      const refusal = csrf.refusal(request, body, actor);
      if (refusal) return send(reply, errorView(403, `CSRF check failed: ${refusal}`), 403);
      const back = `${CONSOLE_PATH}/tenants/${enc(tenantId)}/days/${day}`;
      if (body.get('confirm') !== 'yes') return reply.redirect(`${back}/queue-replay`, 303);
      const result = await queueReplayAction(db, options.bill, { tenantId, day, now: now(), actor });
      return reply.redirect(`${back}?audit=${result.auditId}`, 303);
    });

    scope.get(`${CONSOLE_PATH}/tenants/:tenantId/users/:userId`, async (request, reply) => {
      const { tenantId, userId } = request.params as Params;
      const data = await consoleUser(db, {
        tenantId,
        userId,
        day: q(request, 'day'),
        month: q(request, 'month'),
        now: now(),
      });
      return send(reply, userView(data), data.status);
    });

    scope.get(`${CONSOLE_PATH}/rejects`, async (request, reply) => {
      const filter = {
        tenant: q(request, 'tenant'),
        source: q(request, 'source'),
        reason: q(request, 'reason'),
        day: q(request, 'day'),
        all: q(request, 'all') === '1',
      };
      const data = await consoleRejects(db, {
        tenantId: filter.tenant,
        source: filter.source as (typeof REJECT_SOURCES)[number] | undefined,
        reason: filter.reason,
        day: filter.day,
        includeResolved: filter.all,
        beforeId: q(request, 'before'),
      });
      return send(reply, rejectsView(data, filter));
    });
  });
}
