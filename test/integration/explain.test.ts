import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { dayRange } from '../../src/domain/calendar.ts';
import { monthlyShare } from '../../src/domain/proration.ts';
import { InputError } from '../../src/errors.ts';
import { buildServer } from '../../src/http/server.ts';
import { explainCharges } from '../../src/insight/explain.service.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { BACKENDS } from '../support/backends.ts';
import { addActivity, addVersions, currentLines, seedTenant } from './bill-day-fixtures.ts';
import { invoiceRows, NOW, seedBilledTenant, tableFingerprint } from './insight-fixtures.ts';

const explain = (
  conn: DatabaseConnection,
  q: { tenantId?: string; userId: string; day?: string; month?: string },
) => explainCharges(conn.db, { tenantId: q.tenantId ?? 'acme', now: NOW, ...q });

describe.each(BACKENDS)('billing explain on $name', ({ open }) => {
  let conn: DatabaseConnection;
  let users: string[];
  beforeAll(async () => {
    conn = await open();
    users = await seedBilledTenant(conn.db, 'acme', { users: 16, seed: 42 });
    // Hand-made users for the stories below.
    await addVersions(conn.db, 'acme', [
      {
        userId: 'busy',
        at: '2026-09-01T00:00:00Z',
        license: 'professional',
        billing: 'daily',
        recordCalls: true,
      },
      { userId: 'late', at: '2026-10-20T10:00:00Z', license: 'standard' },
      { userId: 'gone', at: '2026-09-01T00:00:00Z', license: 'standard' },
      { userId: 'gone', at: '2026-10-05T12:00:00Z', license: 'standard', active: false },
      { userId: 'wants-daily', at: '2026-09-01T00:00:00Z', license: 'standard', billing: 'daily' },
      { userId: 'up', at: '2026-09-01T00:00:00Z', license: 'standard', recordCalls: true },
      { userId: 'up', at: '2026-10-14T09:00:00Z', license: 'enterprise' },
    ]);
    await addActivity(conn.db, 'acme', '2026-10-14', ['busy']);
    // Re-bill the month with them (a replay of every day).
    for (const day of dayRange('2026-10-01', '2026-10-31')) {
      await billDay(conn.db, { tenantId: 'acme', day, trigger: 'replay', now: NOW });
    }
  }, 240_000);
  afterAll(async () => conn?.close());

  it('explains a daily line with its login evidence, price and run', async () => {
    const e = await explain(conn, { userId: 'busy', day: '2026-10-14' });
    expect(e.currency).toBe('EUR');
    const d = e.days[0];
    expect(d?.license).toBe('professional');
    expect(d?.billing).toBe('daily');
    expect(d?.dryRun).toBe(false);
    expect(d?.stale).toBe(false);
    expect(d?.runId).not.toBeNull();
    expect(d?.reasons.some((r) => r.startsWith('R'))).toBe(true);
    expect(d?.recordingWhy).toContain('charged');
    expect(d?.lines.map((l) => [l.item, l.billing, l.unitPrice, l.amount])).toEqual([
      ['license.professional', 'daily', 250, 250],
      ['addon.recording', 'daily', 50, 50],
    ]);
    expect(d?.activity?.loginCount).toBe(1);
    expect(d?.priceBook?.validFrom).toBe('2000-01-01');
    expect(d?.notBilled).toBeNull();
  });

  it('shows at most 10 login events with source and time of receipt, ordered by time', async () => {
    for (const userId of users) {
      const e = await explain(conn, { userId, month: '2026-10' });
      for (const d of e.days) {
        if (!d.activity) continue;
        expect(d.billing).toBe('daily');
        expect(d.activity.events.length).toBe(Math.min(10, d.activity.loginCount));
        expect(d.activity.events[0]?.occurredAt).toBe(d.activity.firstLoginAt);
        for (const ev of d.activity.events) {
          expect(ev.source).toBe('http');
          expect(ev.receivedAt).toBe(NOW.toISOString());
        }
        if (d.activity.loginCount > 10) return;
      }
    }
    throw new Error('the random logins should give some user-day more than 10 events');
  });

  it('says why a user has no line', async () => {
    const before = await explain(conn, { userId: 'late', day: '2026-10-19' });
    expect(before.days[0]?.notBilled).toContain(
      "the user's first version takes effect at 2026-10-20T10:00:00.000Z",
    );
    const gone = await explain(conn, { userId: 'gone', day: '2026-10-10' });
    expect(gone.days[0]?.notBilled).toMatch(/^inactive all day/);
    const idle = await explain(conn, { userId: 'busy', day: '2026-10-10' });
    expect(idle.days[0]?.notBilled).toBe('billed daily (professional) and no login that day');
    expect(idle.days[0]?.lines).toEqual([]);
    const daily = await explain(conn, { userId: 'wants-daily', day: '2026-10-10' });
    expect(daily.days[0]?.billingWhy).toContain(
      'asks for daily billing, but standard can only be billed monthly',
    );
  });

  it('explains an upgrade: highest license of the day, recording included above professional, proration', async () => {
    const e = await explain(conn, { userId: 'up', day: '2026-10-14' });
    const d = e.days[0];
    expect(d?.versions.map((v) => [v.license, v.chosen])).toEqual([
      ['standard', false],
      ['enterprise', true],
    ]);
    expect(d?.recordingWhy).toBe('not charged: recording is included in enterprise');
    expect(d?.lines).toHaveLength(1);
    const line = d?.lines[0];
    expect(line?.proration).toEqual({
      d: 14,
      n: 31,
      formula: 'floor(P*d/n) - floor(P*(d-1)/n)',
      value: monthlyShare(5900, 14, 31),
    });
    expect(line?.explanation).toContain('floor(5900*14/31) - floor(5900*13/31) = 2664 - 2474 = 190');
  });

  it('property: explain of random users and days equals the stored lines, and the derivation gives the amounts', async () => {
    const all = [...users, 'busy', 'late', 'gone', 'wants-daily', 'up'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...all), fc.integer({ min: 1, max: 31 }), async (userId, dom) => {
        const day = `2026-10-${String(dom).padStart(2, '0')}`;
        const e = await explain(conn, { userId, day });
        const d = e.days[0];
        if (!d) throw new Error('one day expected');
        const stored = (await currentLines(conn.db, 'acme', day)).filter((l) => l.userId === userId);
        expect(d.dryRun).toBe(false);
        expect(d.stale).toBe(false);
        expect(d.lines.map((l) => [l.item, l.billing, l.amount, l.unitPrice]).sort()).toEqual(
          stored.map((l) => [l.item, l.billing, l.amount, l.unitPrice]).sort(),
        );
        for (const l of d.lines) {
          if (l.billing === 'monthly') expect(l.proration?.value).toBe(l.amount);
          else expect(l.amount).toBe(l.unitPrice);
        }
        expect(d.notBilled === null).toBe(stored.length > 0);
      }),
      { numRuns: 60, seed: 7 },
    );
  }, 120_000);

  it("a month's explain sums to the user's invoice rows", async () => {
    const { rows } = await invoiceRows(conn.db, '2026-10', 'acme');
    for (const userId of [...users, 'busy', 'up']) {
      const e = await explain(conn, { userId, month: '2026-10' });
      expect(e.days.map((d) => d.day)[0]).toBe('2026-10-01');
      expect(e.days).toHaveLength(31);
      const invoiced = rows.filter((r) => r.userId === userId && !r.item.startsWith('adjustment.'));
      expect(e.total).toBe(invoiced.reduce((s, r) => s + r.amount, 0));
      // Per item and billing too.
      const byItem = new Map<string, number>();
      for (const d of e.days)
        for (const l of d.lines)
          byItem.set(`${l.item}|${l.billing}`, (byItem.get(`${l.item}|${l.billing}`) ?? 0) + l.amount);
      const invoicedByItem = new Map<string, number>();
      for (const r of invoiced)
        invoicedByItem.set(
          `${r.item}|${r.billing}`,
          (invoicedByItem.get(`${r.item}|${r.billing}`) ?? 0) + r.amount,
        );
      expect(Object.fromEntries(byItem)).toEqual(Object.fromEntries(invoicedByItem));
    }
  });

  it('a billable day without a run is a dry run, equal to what billing then stores; nothing is written', async () => {
    const before = await tableFingerprint(conn.db);
    const e = await explain(conn, { userId: 'busy', month: '2026-11' });
    expect(e.days.map((d) => d.day).at(-1)).toBe('2026-11-14');
    expect(e.days.every((d) => d.dryRun && d.runId === null)).toBe(true);
    expect(await tableFingerprint(conn.db)).toEqual(before);
    const user = users[0] as string;
    const dry = await explain(conn, { userId: user, day: '2026-11-05' });
    await billDay(conn.db, { tenantId: 'acme', day: '2026-11-05', trigger: 'manual', now: NOW });
    const stored = (await currentLines(conn.db, 'acme', '2026-11-05')).filter((l) => l.userId === user);
    expect(dry.days[0]?.lines.map((l) => [l.item, l.amount]).sort()).toEqual(
      stored.map((l) => [l.item, l.amount]).sort(),
    );
  });

  it('a day whose input changed after its run shows the billed lines, marked stale', async () => {
    await addActivity(conn.db, 'acme', '2026-10-12', ['busy']);
    const e = await explain(conn, { userId: 'busy', day: '2026-10-12' });
    expect(e.days[0]?.stale).toBe(true);
    expect(e.days[0]?.lines).toEqual([]);
    await billDay(conn.db, { tenantId: 'acme', day: '2026-10-12', trigger: 'late-data', now: NOW });
    const after = await explain(conn, { userId: 'busy', day: '2026-10-12' });
    expect(after.days[0]?.stale).toBe(false);
    expect(after.days[0]?.lines.map((l) => l.amount)).toEqual([250, 50]);
  });

  it.each([
    [{ tenantId: 'nope', userId: 'busy', day: '2026-10-14' }, 'UNKNOWN_TENANT', 'unknown tenant "nope"'],
    [{ userId: 'nobody', day: '2026-10-14' }, 'UNKNOWN_USER', 'unknown user "nobody"'],
    [{ userId: 'busy', day: '2026-10-32' }, 'INVALID_INPUT', 'invalid day "2026-10-32"'],
    [{ userId: 'busy', day: '2026-11-15' }, 'DAY_OUT_OF_RANGE', 'latest billable day: 2026-11-14'],
    [{ userId: 'busy', day: '2026-08-01' }, 'DAY_OUT_OF_RANGE', 'before tenant "acme"\'s first day'],
    [{ userId: 'busy', month: '2026-12' }, 'MONTH_IN_FUTURE', 'month 2026-12 is in the future'],
    [{ userId: 'busy', month: '2026-1' }, 'INVALID_INPUT', 'invalid month "2026-1"'],
    [{ userId: 'busy' }, 'INVALID_INPUT', 'exactly one of'],
  ])('refuses %o (%s)', async (q, code, message) => {
    const error = await explain(conn, q).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe(code);
    expect((error as InputError).message).toContain(message);
  });

  describe('over HTTP', () => {
    let app: FastifyInstance;
    let key: string;
    beforeAll(async () => {
      await seedTenant(conn.db, { id: 'other' });
      await addVersions(conn.db, 'other', [
        { userId: 'stranger', at: '2026-09-01T00:00:00Z', license: 'standard' },
      ]);
      key = await createApiKey(conn.db, 'acme');
      app = buildServer({ db: conn.db, logger: pino({ level: 'silent' }), now: () => NOW, serialize: true });
      await app.ready();
    });
    afterAll(async () => app?.close());
    const get = (url: string, k: string | undefined = key) =>
      app.inject({ method: 'GET', url, headers: k ? { authorization: `Bearer ${k}` } : {} });

    it('answers the same JSON as the command', async () => {
      const res = await get('/v1/users/busy/charges?day=2026-10-14');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual(
        JSON.parse(JSON.stringify(await explain(conn, { userId: 'busy', day: '2026-10-14' }))),
      );
      const month = await get('/v1/users/up/charges?month=2026-10');
      expect(month.json().days).toHaveLength(31);
    });

    it("404 for an unknown user and for another tenant's user, 400 for bad input, 401 without a key", async () => {
      expect((await get('/v1/users/nobody/charges?day=2026-10-14')).statusCode).toBe(404);
      const foreign = await get('/v1/users/stranger/charges?day=2026-10-14');
      expect(foreign.statusCode).toBe(404);
      expect(foreign.json().error).toContain('unknown user "stranger" of tenant "acme"');
      const future = await get('/v1/users/busy/charges?month=2027-01');
      expect(future.statusCode).toBe(400);
      expect(future.json().error).toContain('2027-01');
      expect((await get('/v1/users/busy/charges?month=oct')).json().error).toContain('invalid month "oct"');
      expect((await get('/v1/users/busy/charges?day=2026-10-14&month=2026-10')).statusCode).toBe(400);
      expect((await get('/v1/users/busy/charges?week=3')).json().error).toContain('query');
      expect((await get('/v1/users/busy/charges?day=2026-10-14', '')).statusCode).toBe(401);
    });
  });
});
