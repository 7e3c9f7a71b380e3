import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listIngestRejects } from '../../src/db/repositories/ingest-reject.repository.ts';
import { buildServer } from '../../src/http/server.ts';
import { registry } from '../../src/metrics.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const NOW = new Date('2026-11-20T12:00:00Z');
const ev = (eventId: string, occurredAt = '2026-11-19T10:00:00Z', userId = 'u-1', tenantId = 'acme') => ({
  eventId,
  tenantId,
  userId,
  occurredAt,
});

describe('HTTP API', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let acmeKey: string;
  let otherKey: string;
  const count = async () => (await t.db.selectFrom('login_events').selectAll().execute()).length;
  const post = (key: string | undefined, payload: unknown, contentType = 'application/json') =>
    app.inject({
      method: 'POST',
      url: '/v1/login-events',
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': contentType },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });

  beforeAll(async () => {
    t = await createTestDatabase();
    await addTenant(t.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    await addTenant(t.db, { id: 'other', name: 'Other', timezone: 'UTC', currency: 'EUR' });
    acmeKey = await createApiKey(t.db, 'acme');
    otherKey = await createApiKey(t.db, 'other');
    app = buildServer({
      db: t.db,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      bodyLimit: 4 * 1024 * 1024,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('accepts a batch and answers the counts and every rejected index', async () => {
    const res = await post(acmeKey, {
      events: [
        ev('h1'),
        ev('h2'),
        ev('h1'),
        { ...ev('h3'), occurredAt: 'soon' },
        ev('h4', undefined, 'u', 'other'),
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.accepted).toBe(2);
    expect(body.duplicates).toBe(1);
    expect(body.rejected.map((r: { index: number; eventId: string }) => [r.index, r.eventId])).toEqual([
      [3, 'h3'],
      [4, 'h4'],
    ]);
    expect(body.rejected[1].reason).toContain('may not be written with a key of tenant "acme"');
    expect(await count()).toBe(2);
    // The reject of a cross-tenant claim belongs to the key's tenant; the claim is data.
    expect(await listIngestRejects(t.db, { tenantId: 'other' })).toEqual([]);
    const h4 = (await listIngestRejects(t.db, { tenantId: 'acme' })).filter((r) => r.eventId === 'h4');
    expect(h4.map((r) => r.source)).toEqual(['http']);
    expect(h4[0]?.raw).toContain('"tenantId":"other"');
  });

  it('401 without a key, with a wrong key, and stores nothing', async () => {
    const before = await count();
    const rejectsBefore = (await listIngestRejects(t.db, {})).length;
    expect((await post(undefined, { events: [ev('k1')] })).statusCode).toBe(401);
    expect((await post('bk_wrong', { events: [ev('k1')] })).statusCode).toBe(401);
    expect((await post(`${acmeKey}x`, 'not json')).statusCode).toBe(401);
    expect(await count()).toBe(before);
    expect((await listIngestRejects(t.db, {})).length).toBe(rejectsBefore);
  });

  it("rejects events sent with another tenant's key, keeping them for the key's tenant, storing none", async () => {
    const res = await post(otherKey, { events: [ev('x1'), ev('x2')] });
    expect(res.statusCode).toBe(200);
    expect(res.json().accepted).toBe(0);
    expect(res.json().rejected).toHaveLength(2);
    expect(
      await t.db.selectFrom('login_events').where('event_id', 'in', ['x1', 'x2']).selectAll().execute(),
    ).toEqual([]);
    expect(
      (await listIngestRejects(t.db, { tenantId: 'other' })).filter((r) => r.eventId?.startsWith('x')),
    ).toHaveLength(2);
    expect(
      (await listIngestRejects(t.db, { tenantId: 'acme' })).filter((r) => r.eventId?.startsWith('x')),
    ).toEqual([]);
  });

  it('413 for more than 10,000 events or an oversize body, nothing stored', async () => {
    const before = await count();
    const many = Array.from({ length: 10_001 }, (_, i) => ev(`big${i}`));
    const res = await post(acmeKey, { events: many });
    expect(res.statusCode).toBe(413);
    expect(res.json().error).toContain('at most 10000 events');
    const huge = await post(acmeKey, { events: [ev('huge', undefined, 'x'.repeat(5 * 1024 * 1024))] });
    expect(huge.statusCode).toBe(413);
    expect(await count()).toBe(before);
    const ok = await post(acmeKey, { events: many.slice(0, 10_000) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().accepted).toBe(10_000);
  });

  it('400 for a body that is not JSON or not of the shape, kept as one rejected payload', async () => {
    const res = await post(acmeKey, '{"events": [', 'text/plain');
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/not valid JSON/);
    const shape = await post(acmeKey, { event: ev('s1') });
    expect(shape.statusCode).toBe(400);
    const kept = await listIngestRejects(t.db, { tenantId: 'acme' });
    expect(kept.filter((r) => r.location === 'http body').map((r) => r.raw)).toEqual([
      '{"events": [',
      JSON.stringify({ event: ev('s1') }),
    ]);
  });

  it('counts the same batch sent on concurrent connections once', async () => {
    const batch = { events: Array.from({ length: 2000 }, (_, i) => ev(`c${i}`, undefined, `u${i % 7}`)) };
    const results = await Promise.all([post(acmeKey, batch), post(acmeKey, batch), post(acmeKey, batch)]);
    const bodies = results.map((r) => r.json());
    expect(bodies.reduce((s, b) => s + b.accepted, 0)).toBe(2000);
    expect(bodies.reduce((s, b) => s + b.duplicates, 0)).toBe(4000);
    const rows = await t.db
      .selectFrom('daily_activity')
      .select((eb) => eb.fn.sum<string>('login_count').as('n'))
      .where('user_id', 'in', ['u0', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'])
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(2000);
  });

  it('stores a settings version and answers its license; previews without storing', async () => {
    const settings = {
      role: 'user',
      permissions: ['communication'],
      skills: ['cz-voice', 'sk-voice'],
      recordCalls: true,
      billing: 'daily',
    };
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/users/u-1042/settings',
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ ...settings, effectiveAt: '2026-11-03T14:05:00+01:00' }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: 'stored',
      license: 'professional',
      billing: 'daily',
      userId: 'u-1042',
    });
    const stored = await t.db.selectFrom('settings_versions').selectAll().execute();
    expect(stored.map((s) => [s.tenant_id, s.user_id, s.effective_at.toISOString()])).toEqual([
      ['acme', 'u-1042', '2026-11-03T13:05:00.000Z'],
    ]);
    const conflict = await app.inject({
      method: 'PUT',
      url: '/v1/users/u-1042/settings',
      headers: { authorization: `Bearer ${acmeKey}` },
      payload: JSON.stringify({ ...settings, recordCalls: false, effectiveAt: '2026-11-03T13:05:00Z' }),
    });
    expect(conflict.statusCode).toBe(409);
    const bad = await app.inject({
      method: 'PUT',
      url: '/v1/users/u-1/settings',
      headers: { authorization: `Bearer ${acmeKey}` },
      payload: JSON.stringify({ ...settings, role: 'king' }),
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toContain('role');
    const preview = await app.inject({
      method: 'POST',
      url: '/v1/license/resolve',
      headers: { authorization: `Bearer ${acmeKey}` },
      payload: JSON.stringify({ ...settings, userId: undefined }),
    });
    expect(preview.statusCode).toBe(200);
    expect(preview.json().license).toBe('professional');
    expect(await t.db.selectFrom('settings_versions').selectAll().execute()).toHaveLength(1);
  });

  it('healthz answers only its status; the ingest counters are in the registry, not on this port', async () => {
    const health = await app.inject({ method: 'GET', url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(
      /billing_ingest_events_total\{source="http",tenant="acme",outcome="accepted"\} \d+/,
    );
    expect(metrics).toContain('billing_ingest_batch_seconds_bucket');
  });
});
