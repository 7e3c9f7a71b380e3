import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyExpiry } from '../../src/cli/key-expiry.ts';
import { loadConfig } from '../../src/config.ts';
import { AuthThrottle } from '../../src/http/auth-throttle.ts';
import { buildServer } from '../../src/http/server.ts';
import { registry } from '../../src/metrics.ts';
import { issueApiKey } from '../../src/tenancy/api-key.ts';
import {
  addTenant,
  createTenantKey,
  listTenantKeys,
  revokeTenantKey,
} from '../../src/tenancy/tenant.service.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const T0 = new Date('2026-11-20T12:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

describe('API key lifecycle: list, revoke, expiry, last use', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let clock = T0;
  const events = async () => (await t.db.selectFrom('login_events').select('event_id').execute()).length;
  const rejects = async () => (await t.db.selectFrom('ingest_rejects').select('id').execute()).length;
  const post = (key: string, eventId: string, remoteAddress = '10.0.0.1') =>
    app.inject({
      method: 'POST',
      url: '/v1/login-events',
      remoteAddress,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload: JSON.stringify({
        events: [{ eventId, tenantId: 'acme', userId: 'u-1', occurredAt: '2026-11-19T10:00:00Z' }],
      }),
    });

  beforeAll(async () => {
    t = await createTestDatabase();
    await addTenant(t.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    await addTenant(t.db, { id: 'beta', name: 'Beta', timezone: 'UTC', currency: 'EUR' });
    app = buildServer({ db: t.db, logger: pino({ level: 'silent' }), now: () => clock });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('lists a tenant’s keys with prefix, dates and state, never the key or its hash', async () => {
    const a = await createTenantKey(t.db, { tenantId: 'acme', expiresAt: null, now: T0 });
    const b = await createTenantKey(t.db, {
      tenantId: 'acme',
      expiresAt: parseKeyExpiry({ expiresIn: '90d' }, T0),
      now: T0,
    });
    await createTenantKey(t.db, { tenantId: 'beta', expiresAt: null, now: T0 });
    const keys = await listTenantKeys(t.db, 'acme', T0);
    expect(keys.map((k) => [k.id, k.prefix, k.state])).toEqual([
      [a.id, a.key.slice(0, 9), 'active'],
      [b.id, b.key.slice(0, 9), 'active'],
    ]);
    expect(keys[1]?.expiresAt?.toISOString()).toBe('2027-02-18T12:00:00.000Z');
    expect(keys[0]?.createdAt.toISOString()).toBe(T0.toISOString());
    expect(keys[0]?.lastUsedAt).toBeNull();
    const text = JSON.stringify(keys);
    expect(text).not.toContain(a.key);
    expect(text).not.toContain('hash');
    await expect(listTenantKeys(t.db, 'nope', T0)).rejects.toThrow('unknown tenant "nope"');
  });

  it('parses --expires-in and --expires-at, and refuses the rest with what and where', () => {
    expect(parseKeyExpiry({ expiresIn: '12h' }, T0)?.toISOString()).toBe('2026-11-21T00:00:00.000Z');
    expect(parseKeyExpiry({ expiresIn: '30m' }, T0)?.toISOString()).toBe('2026-11-20T12:30:00.000Z');
    expect(parseKeyExpiry({ expiresAt: '2027-01-01T00:00:00+01:00' }, T0)?.toISOString()).toBe(
      '2026-12-31T23:00:00.000Z',
    );
    expect(parseKeyExpiry({}, T0)).toBeNull();
    expect(() => parseKeyExpiry({ expiresIn: '90' }, T0)).toThrow('--expires-in: "90" is not a duration');
    expect(() => parseKeyExpiry({ expiresIn: '0d' }, T0)).toThrow('--expires-in');
    expect(() => parseKeyExpiry({ expiresAt: '2027-01-01' }, T0)).toThrow('--expires-at: "2027-01-01"');
    expect(() => parseKeyExpiry({ expiresAt: '2026-11-20T11:00:00Z' }, T0)).toThrow('not in the future');
    expect(() => parseKeyExpiry({ expiresIn: '1d', expiresAt: '2027-01-01T00:00:00Z' }, T0)).toThrow(
      'not both',
    );
  });

  it('a revoked key gets the 401 of a wrong key and nothing is stored; revoking twice changes nothing', async () => {
    clock = T0;
    const { key, id } = await issueApiKey(t.db, 'acme', { now: T0 });
    expect((await post(key, 'r-1')).statusCode).toBe(200);
    const before = { events: await events(), rejects: await rejects() };
    const first = await revokeTenantKey(t.db, { tenantId: 'acme', id, now: at(1000) });
    expect(first.revoked).toBe(true);
    const again = await revokeTenantKey(t.db, { tenantId: 'acme', prefix: key.slice(0, 9), now: at(2000) });
    expect(again).toMatchObject({ revoked: false, key: { id } });
    expect(again.key.revokedAt?.toISOString()).toBe(at(1000).toISOString());

    const refused = await post(key, 'r-2');
    const wrong = await post(`bk_${'x'.repeat(43)}`, 'r-3');
    expect(refused.statusCode).toBe(401);
    expect(refused.json()).toEqual(wrong.json());
    expect(refused.json()).toEqual({ error: 'invalid API key' });
    expect({ events: await events(), rejects: await rejects() }).toEqual(before);
    expect((await listTenantKeys(t.db, 'acme', T0)).find((k) => k.id === id)?.state).toBe('revoked');
  });

  it('revoke refuses an unknown id, another tenant’s key, an ambiguous choice', async () => {
    const { id } = await issueApiKey(t.db, 'beta', { now: T0 });
    await expect(revokeTenantKey(t.db, { tenantId: 'acme', id, now: T0 })).rejects.toThrow(
      `tenant "acme" has no API key with id ${id}`,
    );
    await expect(revokeTenantKey(t.db, { tenantId: 'acme', now: T0 })).rejects.toThrow(
      'by its id or by its prefix',
    );
    await expect(revokeTenantKey(t.db, { tenantId: 'acme', id: '1 OR 1=1', now: T0 })).rejects.toThrow(
      'is not a key id',
    );
    expect((await listTenantKeys(t.db, 'beta', T0)).find((k) => k.id === id)?.state).toBe('active');
  });

  it('an expired key gets 401 from its expiry instant on, and nothing is stored', async () => {
    const { key } = await issueApiKey(t.db, 'acme', { now: T0, expiresAt: at(60_000) });
    clock = at(59_999);
    expect((await post(key, 'x-1')).statusCode).toBe(200);
    const before = { events: await events(), rejects: await rejects() };
    clock = at(60_000);
    const res = await post(key, 'x-2');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: 'invalid API key' });
    expect({ events: await events(), rejects: await rejects() }).toEqual(before);
    expect((await listTenantKeys(t.db, 'acme', clock)).at(-1)?.state).toBe('expired');
  });

  it('records last use at most once a minute per key, not once per request', async () => {
    const { key, id } = await issueApiKey(t.db, 'acme', { now: T0 });
    const lastUsed = async () =>
      (await listTenantKeys(t.db, 'acme', clock)).find((k) => k.id === id)?.lastUsedAt?.toISOString();
    clock = at(100_000);
    expect((await post(key, 'l-1')).statusCode).toBe(200);
    expect(await lastUsed()).toBe(at(100_000).toISOString());
    clock = at(130_000);
    expect((await post(key, 'l-2')).statusCode).toBe(200);
    expect(await lastUsed()).toBe(at(100_000).toISOString());
    clock = at(161_000);
    expect((await post(key, 'l-3')).statusCode).toBe(200);
    expect(await lastUsed()).toBe(at(161_000).toISOString());
  });
});

describe('failed authentication is throttled per client address', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let good: string;
  const post = (key: string, remoteAddress: string, forwardedFor?: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/login-events',
      remoteAddress,
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }),
      },
      payload: JSON.stringify({ events: [] }),
    });

  beforeAll(async () => {
    t = await createTestDatabase();
    await addTenant(t.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    good = (await issueApiKey(t.db, 'acme')).key;
    app = buildServer({
      db: t.db,
      logger: pino({ level: 'silent' }),
      authThrottle: { burst: 5, refillSeconds: 600 },
      // Reverse proxies that may name the client (X-Forwarded-For); the other senders are clients.
      trustedProxies: loadConfig({ BILLING_HTTP_TRUSTED_PROXIES: '10.0.0.5, 10.9.0.0/16' })
        .BILLING_HTTP_TRUSTED_PROXIES,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('answers 429 with Retry-After after the burst; good keys, from any address, still pass', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(`bk_wrong${i}`, '10.0.0.66')).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const throttled = await post('bk_wrong-again', '10.0.0.66');
    expect(throttled.statusCode).toBe(429);
    expect(Number(throttled.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(throttled.json().error).toMatch(/too many failed authentications.*retry after \d+ s/);
    // A missing header is a failed authentication too.
    const anonymous = await app.inject({
      method: 'POST',
      url: '/v1/login-events',
      remoteAddress: '10.0.0.66',
    });
    expect(anonymous.statusCode).toBe(429);
    // Another client is not affected, and successes are never throttled, even from that address.
    expect((await post('bk_wrong', '10.0.0.67')).statusCode).toBe(401);
    expect((await post(good, '10.0.0.67')).statusCode).toBe(200);
    expect((await post(good, '10.0.0.66')).statusCode).toBe(200);
    expect((await post('bk_wrong-again', '10.0.0.66')).statusCode).toBe(429);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^billing_auth_failures_total\{outcome="throttled"\} 3$/m);
  });

  it('counts failures per forwarded client, not per proxy', async () => {
    const fromA = [];
    for (let i = 0; i < 6; i++) fromA.push((await post('bk_wrong', '10.0.0.5', '192.0.2.1')).statusCode);
    expect(fromA).toEqual([401, 401, 401, 401, 401, 429]);
    // Another client through the same proxy, or through a proxy of the listed range, is its own.
    expect((await post('bk_wrong', '10.0.0.5', '192.0.2.2')).statusCode).toBe(401);
    expect((await post('bk_wrong', '10.9.3.4', '192.0.2.3')).statusCode).toBe(401);
    // The rightmost address that is not a listed proxy is the client: A behind two proxies.
    expect((await post('bk_wrong', '10.0.0.5', '192.0.2.1, 10.9.1.1')).statusCode).toBe(429);
    // A client's own header in front of the proxy's cannot pick another address.
    expect((await post('bk_wrong', '10.0.0.5', '198.51.100.7, 192.0.2.1')).statusCode).toBe(429);
    expect((await post(good, '10.0.0.5', '192.0.2.1')).statusCode).toBe(200);
  });

  it('ignores X-Forwarded-For from a sender that is not a listed proxy', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i++)
      statuses.push((await post('bk_wrong', '10.0.0.77', `203.0.113.${i}`)).statusCode);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('refuses a malformed proxy list, naming the entry', () => {
    for (const bad of ['10.0.0.5,proxy.local', '10.0.0.0/33', '::1/129', '10.0.0.5/8/1', 'true']) {
      expect(() => loadConfig({ BILLING_HTTP_TRUSTED_PROXIES: bad }), bad).toThrow(
        /BILLING_HTTP_TRUSTED_PROXIES.*is not an IP address or CIDR range/,
      );
    }
    expect(loadConfig({}).BILLING_HTTP_TRUSTED_PROXIES).toEqual([]);
    expect(loadConfig({ BILLING_HTTP_TRUSTED_PROXIES: '::1,fd00::/8' }).BILLING_HTTP_TRUSTED_PROXIES).toEqual(
      ['::1', 'fd00::/8'],
    );
  });
});

describe('AuthThrottle (token bucket, time passed in)', () => {
  it('refills with time: one failure per refillSeconds / burst', () => {
    const throttle = new AuthThrottle({ burst: 3, refillSeconds: 30 });
    for (let i = 0; i < 3; i++) expect(throttle.fail('a', 0)).toEqual({ throttled: false });
    expect(throttle.fail('a', 0)).toEqual({ throttled: true, retryAfterSeconds: 10 });
    expect(throttle.fail('a', 4_000)).toEqual({ throttled: true, retryAfterSeconds: 6 });
    expect(throttle.fail('a', 10_000)).toEqual({ throttled: false });
    expect(throttle.fail('a', 10_000)).toMatchObject({ throttled: true });
    expect(throttle.fail('b', 10_000)).toEqual({ throttled: false });
  });

  it('stays bounded: forgets the least recently failing address, and refilled ones', () => {
    const throttle = new AuthThrottle({ burst: 2, refillSeconds: 10, maxAddresses: 100 });
    for (let i = 0; i < 1_000; i++) throttle.fail(`10.0.${i >> 8}.${i & 255}`, 0);
    expect(throttle.size).toBe(100);
    throttle.fail('x', 0);
    throttle.fail('x', 0);
    expect(throttle.fail('x', 0)).toMatchObject({ throttled: true });
    expect(throttle.size).toBe(100);
    // 10 s later every bucket is full again: the next failure sweeps them all out.
    throttle.fail('y', 10_000);
    expect(throttle.size).toBe(1);
  });
});
