import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { closePeriod } from '../../src/billing/close-period.service.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { dayRange } from '../../src/domain/calendar.ts';
import { monthlyShare } from '../../src/domain/proration.ts';
import { buildServer } from '../../src/http/server.ts';
import { monthUsage } from '../../src/insight/usage.service.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { BACKENDS } from '../support/backends.ts';
import { addActivity, addVersions, seedTenant } from './bill-day-fixtures.ts';
import { invoiceRows, NOW, seedBilledTenant, tableFingerprint } from './insight-fixtures.ts';

describe.each(BACKENDS)('usage for tenants on $name', ({ open }) => {
  let conn: DatabaseConnection;
  let app: FastifyInstance;
  let acmeKey: string;
  let otherKey: string;
  beforeAll(async () => {
    conn = await open();
    await seedBilledTenant(conn.db, 'acme', { users: 12, seed: 11, billTo: '2026-11-10' });
    await addVersions(conn.db, 'acme', [
      { userId: 'closer', at: '2026-09-01T00:00:00Z', license: 'enterprise', billing: 'daily' },
    ]);
    for (const day of dayRange('2026-10-01', '2026-11-10')) {
      await billDay(conn.db, { tenantId: 'acme', day, trigger: 'replay', now: NOW });
    }
    // October closed, then a late login on an October day: an adjustment invoiced in November.
    await closePeriod(conn.db, { tenantId: 'acme', month: '2026-10', now: NOW });
    await addActivity(conn.db, 'acme', '2026-10-15', ['closer']);
    await billDay(conn.db, { tenantId: 'acme', day: '2026-10-15', trigger: 'replay', now: NOW });
    await seedTenant(conn.db, { id: 'other' });
    await addVersions(conn.db, 'other', [{ userId: 'o1', at: '2026-09-01T00:00:00Z', license: 'developer' }]);
    await billDay(conn.db, { tenantId: 'other', day: '2026-11-02', trigger: 'manual', now: NOW });
    acmeKey = await createApiKey(conn.db, 'acme');
    otherKey = await createApiKey(conn.db, 'other');
    app = buildServer({ db: conn.db, logger: pino({ level: 'silent' }), now: () => NOW, serialize: true });
    await app.ready();
  }, 240_000);
  afterAll(async () => {
    await app?.close();
    await conn?.close();
  });
  const get = (url: string, key?: string) =>
    app.inject({ method: 'GET', url, headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('a closed, fully billed month: total equals the invoice, the projection is the total', async () => {
    const u = await monthUsage(conn.db, { tenantId: 'acme', month: '2026-10', now: NOW });
    const invoice = await invoiceRows(conn.db, '2026-10', 'acme');
    expect(u.closed).toBe(true);
    expect(u.billedThrough).toBe('2026-10-31');
    expect(u.total).toBe(invoice.total);
    expect(u.projectedTotal).toBe(u.total);
    // users and user-days per item and billing mode, from the invoice rows.
    for (const item of u.items) {
      const rows = invoice.rows.filter((r) => r.item === item.item && r.billing === item.billing);
      expect(item.users).toBe(new Set(rows.map((r) => r.userId)).size);
      expect(item.userDays).toBe(rows.reduce((s, r) => s + r.quantity, 0));
      expect(item.amount).toBe(rows.reduce((s, r) => s + r.amount, 0));
    }
    expect(u.items.map((i) => i.item)).toContain('license.enterprise');
  });

  it('the month to date: total equals the invoice (adjustments included), projection labelled as an estimate', async () => {
    const u = await monthUsage(conn.db, { tenantId: 'acme', month: '2026-11', now: NOW });
    const invoice = await invoiceRows(conn.db, '2026-11', 'acme');
    expect(u.total).toBe(invoice.total);
    expect(u.items.some((i) => i.item.startsWith('adjustment.'))).toBe(true);
    expect(u.billedThrough).toBe('2026-11-10');
    expect(u.closed).toBe(false);
    expect(u.projectedTotalIsEstimate).toBe(true);
    // Independent estimate: monthly lines of the 10th at their shares of days 11..30, daily amount
    // per billed day for the 20 remaining days.
    const monthly = await sql<{ unit_price: string }>`
      SELECT l.unit_price FROM charge_lines l JOIN runs r ON r.id = l.run_id
      WHERE r.tenant_id = 'acme' AND r.day = '2026-11-10' AND r.is_current AND l.billing = 'monthly'`.execute(
      conn.db,
    );
    let expected = u.total;
    for (const day of dayRange('2026-11-11', '2026-11-30')) {
      const d = Number(day.slice(8));
      for (const l of monthly.rows) expected += monthlyShare(Number(l.unit_price), d, 30);
    }
    const daily = invoice.rows
      .filter((r) => r.billing === 'daily' && !r.item.startsWith('adjustment.'))
      .reduce((s, r) => s + r.amount, 0);
    expected += Math.round((daily / 10) * 20);
    expect(u.projectedTotal).toBe(expected);
    expect(u.projectedTotal).toBeGreaterThan(u.total);
  });

  it('over HTTP: the default month is the current one, a key only sees its own tenant', async () => {
    const res = await get('/v1/usage', acmeKey);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(
      JSON.parse(JSON.stringify(await monthUsage(conn.db, { tenantId: 'acme', month: '2026-11', now: NOW }))),
    );
    const other = (await get('/v1/usage?month=2026-11', otherKey)).json();
    expect(other.tenantId).toBe('other');
    expect(other.items.map((i: { item: string }) => i.item)).toEqual(['license.developer']);
    expect(other.total).toBe((await invoiceRows(conn.db, '2026-11', 'other')).total);
  });

  it('refuses a malformed or future month (400), and a request without a key (401); writes nothing', async () => {
    const before = await tableFingerprint(conn.db);
    const bad = await get('/v1/usage?month=2026-1', acmeKey);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toContain('invalid month "2026-1"');
    const future = await get('/v1/usage?month=2026-12', acmeKey);
    expect(future.statusCode).toBe(400);
    expect(future.json().error).toContain('month 2026-12 is in the future');
    expect((await get('/v1/usage?tenant=other', acmeKey)).statusCode).toBe(400);
    expect((await get('/v1/usage')).statusCode).toBe(401);
    expect(await tableFingerprint(conn.db)).toEqual(before);
  });
});
