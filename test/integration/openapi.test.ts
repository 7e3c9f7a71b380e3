import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { ROUTE_SPECS } from '../../src/http/route-schemas.ts';
import { buildServer } from '../../src/http/server.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { addActivity, seedAcme } from './bill-day-fixtures.ts';
import { NOW } from './insight-fixtures.ts';

type Doc = {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        parameters: Array<{ name: string; in: string }>;
        requestBody?: { content: { 'application/json': { schema: object } } };
        responses: Record<string, { content: Record<string, { schema: object }> }>;
      }
    >
  >;
};

describe('GET /openapi.json', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let key: string;
  let doc: Doc;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  const validators = new Map<string, ValidateFunction>();
  const validatorOf = (schema: object) => {
    const k = JSON.stringify(schema);
    let v = validators.get(k);
    if (!v) {
      v = ajv.compile(schema);
      validators.set(k, v);
    }
    return v;
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    await seedAcme(t.db, [
      {
        userId: 'u1',
        at: '2026-10-01T00:00:00Z',
        license: 'professional',
        billing: 'daily',
        recordCalls: true,
      },
      { userId: 'u2', at: '2026-10-01T00:00:00Z', license: 'standard' },
    ]);
    await addActivity(t.db, 'acme', '2026-10-14', ['u1']);
    await billDay(t.db, { tenantId: 'acme', day: '2026-10-14', trigger: 'manual', now: NOW });
    key = await createApiKey(t.db, 'acme');
    app = buildServer({ db: t.db, logger: pino({ level: 'silent' }), now: () => NOW });
    await app.ready();
    doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  /** Sends a request and checks its response against the document's schema for its route and status. */
  async function checked(
    method: 'GET' | 'POST' | 'PUT',
    route: string,
    url: string,
    payload?: unknown,
    auth = true,
  ): Promise<LightMyRequestResponse> {
    const res = await app.inject({
      method,
      url,
      headers: {
        ...(auth ? { authorization: `Bearer ${key}` } : {}),
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });
    const op = doc.paths[route]?.[method.toLowerCase()];
    if (!op) throw new Error(`${method} ${route} is not in the document`);
    const response = op.responses[String(res.statusCode)];
    if (!response) throw new Error(`${method} ${route}: status ${res.statusCode} is not documented`);
    const json = response.content['application/json'];
    if (json) {
      const validate = validatorOf(json.schema);
      const ok = validate(res.json());
      if (!ok) throw new Error(`${method} ${url} ${res.statusCode}: ${ajv.errorsText(validate.errors)}`);
    }
    return res;
  }

  it('is OpenAPI 3.1 and describes exactly the routes the server has', () => {
    expect(doc.openapi).toBe('3.1.0');
    const printed = app.printRoutes({ commonPrefix: false });
    const served = new Set<string>();
    for (const m of printed.matchAll(/(\/[^\s(]*) \(([A-Z, ]+)\)/g)) {
      for (const method of (m[2] as string).split(', ')) {
        if (method !== 'HEAD' && method !== 'OPTIONS') served.add(`${method.toLowerCase()} ${m[1]}`);
      }
    }
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([p, ops]) =>
        Object.keys(ops).map((method) => `${method} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    expect([...served].sort()).toEqual([...documented].sort());
    expect(documented.size).toBe(ROUTE_SPECS.length);
  });

  it('every real response matches its documented schema', async () => {
    const charges = await checked('GET', '/v1/users/{userId}/charges', '/v1/users/u1/charges?day=2026-10-14');
    expect(charges.statusCode).toBe(200);
    expect(charges.json().days[0].lines).toHaveLength(2);
    expect(
      (await checked('GET', '/v1/users/{userId}/charges', '/v1/users/u2/charges?month=2026-10')).statusCode,
    ).toBe(200);
    expect(
      (await checked('GET', '/v1/users/{userId}/charges', '/v1/users/u1/charges?day=2026-11-13')).json()
        .days[0].dryRun,
    ).toBe(true);
    expect(
      (await checked('GET', '/v1/users/{userId}/charges', '/v1/users/zz/charges?day=2026-10-14')).statusCode,
    ).toBe(404);
    expect(
      (await checked('GET', '/v1/users/{userId}/charges', '/v1/users/u1/charges?day=x')).statusCode,
    ).toBe(400);
    expect(
      (
        await checked(
          'GET',
          '/v1/users/{userId}/charges',
          '/v1/users/u1/charges?day=2026-10-14',
          undefined,
          false,
        )
      ).statusCode,
    ).toBe(401);
    expect((await checked('GET', '/v1/usage', '/v1/usage?month=2026-10')).statusCode).toBe(200);
    expect((await checked('GET', '/v1/usage', '/v1/usage?month=2099-01')).statusCode).toBe(400);
    const event = { eventId: 'e1', tenantId: 'acme', userId: 'u1', occurredAt: '2026-11-15T10:00:00Z' };
    expect(
      (
        await checked('POST', '/v1/login-events', '/v1/login-events', {
          events: [event, { ...event, eventId: '' }],
        })
      ).statusCode,
    ).toBe(200);
    expect((await checked('POST', '/v1/login-events', '/v1/login-events', { nope: 1 })).statusCode).toBe(400);
    const settings = { permissions: ['communication'], effectiveAt: '2026-11-15T09:00:00Z' };
    expect(
      (await checked('PUT', '/v1/users/{userId}/settings', '/v1/users/u3/settings', settings)).statusCode,
    ).toBe(200);
    expect(
      (
        await checked('PUT', '/v1/users/{userId}/settings', '/v1/users/u3/settings', {
          ...settings,
          permissions: ['api'],
        })
      ).statusCode,
    ).toBe(409);
    expect(
      (await checked('POST', '/v1/license/resolve', '/v1/license/resolve', { permissions: ['workspace'] }))
        .statusCode,
    ).toBe(200);
    expect(
      (await checked('POST', '/v1/license/resolve', '/v1/license/resolve', { permissions: ['nope'] }))
        .statusCode,
    ).toBe(400);
    expect((await checked('GET', '/healthz', '/healthz', undefined, false)).statusCode).toBe(200);
    expect((await checked('GET', '/openapi.json', '/openapi.json', undefined, false)).statusCode).toBe(200);
  });

  it('the request schemas are the ones the routes validate with', () => {
    const body = (p: string, m: string) =>
      doc.paths[p]?.[m]?.requestBody?.content['application/json'].schema as object;
    const events = validatorOf(body('/v1/login-events', 'post'));
    expect(
      events({
        events: [{ eventId: 'a', tenantId: 't', userId: 'u', occurredAt: '2026-11-15T10:00:00+01:00' }],
      }),
    ).toBe(true);
    expect(
      events({ events: [{ eventId: 'a', tenantId: 't', userId: 'u', occurredAt: '2026-11-15 10:00' }] }),
    ).toBe(false);
    const settings = validatorOf(body('/v1/users/{userId}/settings', 'put'));
    expect(settings({ role: 'team_leader', billing: 'daily' })).toBe(true);
    expect(settings({ role: 'boss' })).toBe(false);
    expect(settings({ unknown: true })).toBe(false);
    const params = doc.paths['/v1/users/{userId}/charges']?.get?.parameters.map((p) => `${p.in}:${p.name}`);
    expect(params).toEqual(['path:userId', 'query:day', 'query:month']);
  });
});
