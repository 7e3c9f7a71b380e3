import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseConnection, openPostgres } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { isConnectionError } from '../../src/http/connection-errors.ts';
import { buildServer } from '../../src/http/server.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { type LocalPostgres, startLocalPostgres } from '../support/services.ts';

const events = (ids: string[]) => ({
  events: ids.map((eventId) => ({
    eventId,
    tenantId: 'acme',
    userId: 'u-1',
    occurredAt: '2026-11-19T10:00:00Z',
  })),
});

describe('HTTP ingest while PostgreSQL is down', () => {
  let pg: LocalPostgres;
  let conn: DatabaseConnection;
  let app: FastifyInstance;
  let key: string;
  const post = (body: unknown) =>
    app.inject({
      method: 'POST',
      url: '/v1/login-events',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });

  beforeAll(async () => {
    pg = await startLocalPostgres({ durable: true }); // durable: a crash keeps what was committed
    conn = await openPostgres(pg.url, 4);
    await migrateToLatest(conn.db);
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    key = await createApiKey(conn.db, 'acme');
    app = buildServer({
      db: conn.db,
      logger: pino({ level: process.env.OPS_DEBUG ? 'warn' : 'silent' }),
      now: () => new Date('2026-11-20T12:00:00Z'),
    });
    // A route with a plain bug, to prove that only connection failures become 503.
    app.get('/test/bug', async () => {
      throw new Error('a bug');
    });
  });
  afterAll(async () => {
    await app?.close();
    await conn?.close().catch(() => {});
    await pg?.stop();
  });

  it('answers 503 with Retry-After while it is down, 500 for a bug, and stores the retried batch once', async () => {
    expect((await post(events(['a1', 'a2']))).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/test/bug' })).statusCode).toBe(500);

    pg.kill();
    await new Promise((r) => setTimeout(r, 500));
    const down = await post(events(['b1', 'b2']));
    expect(down.statusCode).toBe(503);
    expect(down.headers['retry-after']).toBe('1');
    expect(down.json()).toEqual({ error: 'database unavailable: nothing was stored; retry the request' });
    // Anyone may ask: the answer says nothing about the database (address, error); the log does.
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: 'unavailable' });
    expect(health.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|connect|terminat/i);

    await pg.start();
    let answer = await post(events(['b1', 'b2']));
    // The pool may hand out a connection that died with the old server once more.
    for (let i = 0; i < 5 && answer.statusCode === 503; i++) answer = await post(events(['b1', 'b2']));
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toMatchObject({ accepted: 2, duplicates: 0 });
    const stored = await conn.db.selectFrom('login_events').select('event_id').orderBy('event_id').execute();
    expect(stored.map((r) => r.event_id)).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  it('classifies connection failures, not bugs or bad input', () => {
    for (const e of [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('connection failure'), { code: '08006' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'connect failed'),
      new Error('wrapped', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }),
    ])
      expect(isConnectionError(e), e.message).toBe(true);
    for (const e of [
      new Error('a bug'),
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      Object.assign(new Error('syntax error'), { code: '42601' }),
      null,
      'Connection terminated',
    ])
      expect(isConnectionError(e), String(e)).toBe(false);
  });
});
