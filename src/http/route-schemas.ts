import { z } from 'zod';
import { settingsSchema } from '../domain/settings.ts';
import { loginEventSchema } from '../ingest/login-event.schema.ts';
import { settingsVersionBodySchema, userIdSchema } from '../ingest/settings-version.schema.ts';

/*
 * The schemas of the HTTP API, in one place: the routes validate their input with them and
 * `GET /openapi.json` is generated from them (`openapi.ts`), so the description cannot drift
 * from what the server accepts and answers.
 */

export const errorSchema = z.object({ error: z.string() });

const instant = z.iso.datetime({ offset: true });
const day = z.iso.date();
const minor = z.int().describe('minor units of `currency`');

// Query strings of the insight routes: strings, judged by the services (which name the field).
export const chargesQuerySchema = z.strictObject({
  day: z.string().optional().describe('one day, YYYY-MM-DD (tenant-local); exactly one of day and month'),
  month: z.string().optional().describe('a month, YYYY-MM: its days up to the latest billable day'),
});
export const usageQuerySchema = z.strictObject({
  month: z.string().optional().describe("YYYY-MM; default: the tenant's current month"),
});
export const userParamsSchema = z.object({ userId: userIdSchema });

const explainedLineSchema = z.object({
  item: z.string(),
  billing: z.enum(['monthly', 'daily']),
  unitPrice: minor,
  amount: minor,
  priceBookId: z.string(),
  proration: z
    .object({ d: z.int(), n: z.int(), formula: z.literal('floor(P*d/n) - floor(P*(d-1)/n)'), value: minor })
    .nullable(),
  explanation: z.string(),
});

export const chargeExplanationSchema = z.object({
  tenantId: z.string(),
  userId: z.string(),
  currency: z.string(),
  days: z.array(
    z.object({
      day,
      license: z.string().nullable(),
      billing: z.enum(['monthly', 'daily']).nullable(),
      recording: z.boolean().nullable(),
      reasons: z.array(z.string()),
      billingWhy: z.string().nullable(),
      recordingWhy: z.string().nullable(),
      versions: z.array(
        z.object({
          effectiveAt: instant,
          active: z.boolean(),
          license: z.string(),
          billing: z.string(),
          recordCalls: z.boolean(),
          settings: z.record(z.string(), z.unknown()),
          reasons: z.array(z.string()),
          chosen: z.boolean(),
        }),
      ),
      activity: z
        .object({
          firstLoginAt: instant,
          lastLoginAt: instant,
          loginCount: z.int(),
          events: z.array(
            z.object({ eventId: z.string(), occurredAt: instant, source: z.string(), receivedAt: instant }),
          ),
        })
        .nullable(),
      priceBook: z.object({ id: z.string(), validFrom: day }).nullable(),
      runId: z.string().nullable(),
      run: z.object({ id: z.string(), trigger: z.string(), inputRevision: z.int() }).nullable(),
      dryRun: z.boolean(),
      stale: z.boolean(),
      lines: z.array(explainedLineSchema),
      notBilled: z.string().nullable(),
    }),
  ),
  adjustments: z.array(
    z.object({
      runId: z.string(),
      day,
      period: z.string(),
      item: z.string(),
      billing: z.string(),
      amount: minor,
    }),
  ),
  total: minor,
});

export const usageSchema = z.object({
  tenantId: z.string(),
  month: z.string(),
  currency: z.string(),
  billedThrough: day.nullable(),
  items: z.array(
    z.object({ item: z.string(), billing: z.string(), users: z.int(), userDays: z.int(), amount: minor }),
  ),
  total: minor.describe('equal to the invoice CSV total of the tenant and month'),
  projectedTotal: minor.describe('an ESTIMATE of the month total, not a billed amount'),
  projectedTotalIsEstimate: z.literal(true),
  closed: z.boolean(),
});

const ingestResultSchema = z.object({
  accepted: z.int(),
  duplicates: z.int(),
  rejected: z.array(z.object({ index: z.int(), eventId: z.string().nullable(), reason: z.string() })),
});

const licenseResultSchema = z.object({
  license: z.string(),
  billing: z.string(),
  addons: z.array(z.string()),
  reasons: z.array(z.string()),
});

/** One route of the API as the OpenAPI document describes it. */
export interface RouteSpec {
  method: 'get' | 'post' | 'put';
  /** OpenAPI path (`{param}`). */
  path: string;
  summary: string;
  /** Needs the tenant's bearer key. */
  auth: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string }>;
}

const problems = (codes: number[]): RouteSpec['responses'] =>
  Object.fromEntries(
    codes.map((c) => [
      c,
      {
        description:
          {
            400: 'bad input, the message names it',
            401: 'missing or invalid key',
            404: 'unknown user',
            409: 'conflict',
            413: 'too large',
            503: 'database unavailable',
          }[c] ?? 'error',
        schema: errorSchema,
      },
    ]),
  );

/** Every route `buildServer` registers (the queue dashboard of `serve` is a UI, not API). */
export const ROUTE_SPECS: RouteSpec[] = [
  {
    method: 'post',
    path: '/v1/login-events',
    summary: 'Ingest a batch of login events (at most 10,000)',
    auth: true,
    body: z.object({ events: z.array(loginEventSchema) }),
    responses: {
      200: { description: 'every event judged and committed', schema: ingestResultSchema },
      ...problems([400, 401, 413, 503]),
    },
  },
  {
    method: 'put',
    path: '/v1/users/{userId}/settings',
    summary: 'Store a settings version of a user; answers the resolved license',
    auth: true,
    params: userParamsSchema,
    body: settingsVersionBodySchema,
    responses: {
      200: {
        description: 'stored (or already stored identically)',
        schema: licenseResultSchema.extend({
          status: z.string(),
          tenantId: z.string(),
          userId: z.string(),
          effectiveAt: instant,
        }),
      },
      ...problems([400, 401, 409, 503]),
    },
  },
  {
    method: 'post',
    path: '/v1/license/resolve',
    summary: 'The license given settings would need; stores nothing',
    auth: true,
    body: settingsSchema,
    responses: {
      200: { description: 'the resolved license', schema: licenseResultSchema },
      ...problems([400, 401]),
    },
  },
  {
    method: 'get',
    path: '/v1/users/{userId}/charges',
    summary: "Why a user of the key's tenant was (or was not) billed, per day",
    auth: true,
    params: userParamsSchema,
    query: chargesQuerySchema,
    responses: {
      200: { description: 'the explanation', schema: chargeExplanationSchema },
      ...problems([400, 401, 404, 503]),
    },
  },
  {
    method: 'get',
    path: '/v1/usage',
    summary: "The key's tenant's month to date, per item and billing mode",
    auth: true,
    query: usageQuerySchema,
    responses: {
      200: { description: 'usage of the month', schema: usageSchema },
      ...problems([400, 401, 503]),
    },
  },
  {
    method: 'get',
    path: '/healthz',
    summary: 'Health: 200 when the database answers (no detail: the cause goes to the log)',
    auth: false,
    responses: {
      200: { description: 'up', schema: z.object({ status: z.literal('ok') }) },
      503: { description: 'database away', schema: z.object({ status: z.literal('unavailable') }) },
    },
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    auth: false,
    responses: { 200: { description: 'the OpenAPI document', schema: z.record(z.string(), z.unknown()) } },
  },
];
