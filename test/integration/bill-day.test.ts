import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { DayBillingError, DayNotBillableError } from '../../src/billing/errors.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import type { Database, Db } from '../../src/db/database.ts';
import { BACKENDS } from '../support/backends.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { addActivity, addVersions, BOOK, currentLines, seedAcme, seedTenant } from './bill-day-fixtures.ts';

const NOW = new Date('2026-12-15T00:00:00Z');
const bill = (db: DatabaseConnection['db'], tenantId: string, day: string, now = NOW) =>
  billDay(db, { tenantId, day, trigger: 'manual', now });

// November 2026 has 30 days; day 10 shares: standard 1900 -> 63, professional 3900 -> 130,
// enterprise 5900 -> 196, recording 900 -> 30; day 11: standard -> 63, enterprise -> 197.
describe.each(BACKENDS)('snapshot and charge rules through billDay on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    await seedAcme(conn.db, [
      { userId: 'up', at: '2026-11-01T00:00:00+01:00', license: 'standard' },
      { userId: 'up', at: '2026-11-10T23:59:00+01:00', license: 'professional' },
      { userId: 'down', at: '2026-11-01T00:00:00+01:00', license: 'enterprise' },
      { userId: 'down', at: '2026-11-10T00:01:00+01:00', license: 'standard' },
      { userId: 'removed', at: '2026-11-01T00:00:00+01:00', license: 'professional' },
      { userId: 'removed', at: '2026-11-10T12:00:00+01:00', license: 'professional', active: false },
      { userId: 'new', at: '2026-11-10T15:00:00+01:00', license: 'standard' },
      { userId: 'daily-idle', at: '2026-11-01T00:00:00+01:00', license: 'professional', billing: 'daily' },
      {
        userId: 'daily-busy',
        at: '2026-11-01T00:00:00+01:00',
        license: 'professional',
        billing: 'daily',
        recordCalls: true,
      },
      { userId: 'ent-rec', at: '2026-11-01T00:00:00+01:00', license: 'enterprise', recordCalls: true },
      { userId: 'std-rec', at: '2026-11-01T00:00:00+01:00', license: 'standard', recordCalls: true },
      // Recording from an earlier version of the day counts for the day's (higher) license.
      { userId: 'rec-then-pro', at: '2026-11-01T00:00:00+01:00', license: 'standard', recordCalls: true },
      { userId: 'rec-then-pro', at: '2026-11-10T09:00:00+01:00', license: 'professional' },
    ]);
    await addActivity(conn.db, 'acme', '2026-11-10', ['daily-busy', 'monthly-nobody']);
  });
  afterAll(async () => conn?.close());

  it('bills day 10 by the rules of docs/billing.md', async () => {
    const outcome = await bill(conn.db, 'acme', '2026-11-10');
    expect(outcome.status).toBe('billed');
    const m = (userId: string, item: string, amount: number, unitPrice: number) => ({
      userId,
      item,
      billing: 'monthly',
      amount,
      unitPrice,
    });
    expect(await currentLines(conn.db, 'acme', '2026-11-10')).toEqual([
      { userId: 'daily-busy', item: 'addon.recording', billing: 'daily', amount: 50, unitPrice: 50 },
      { userId: 'daily-busy', item: 'license.professional', billing: 'daily', amount: 250, unitPrice: 250 },
      m('down', 'license.enterprise', 196, 5900), // downgrade at 00:01 keeps the day's highest license
      m('ent-rec', 'license.enterprise', 196, 5900), // no recording add-on on enterprise
      m('new', 'license.standard', 63, 1900), // created mid-month: billed from its first day
      m('rec-then-pro', 'addon.recording', 30, 900),
      m('rec-then-pro', 'license.professional', 130, 3900),
      m('removed', 'license.professional', 130, 3900), // removed at noon: still billed that day
      m('std-rec', 'addon.recording', 30, 900),
      m('std-rec', 'license.standard', 63, 1900),
      m('up', 'license.professional', 130, 3900), // upgrade at 23:59 counts for the whole day
    ]);
    if (outcome.status !== 'billed') throw new Error('unreachable');
    expect(outcome.lineCount).toBe(11);
    expect(outcome.total).toBe(50 + 250 + 196 + 196 + 63 + 30 + 130 + 130 + 30 + 63 + 130);
  });

  it('bills day 11: downgrade and removal take effect, idle daily user has no line', async () => {
    await bill(conn.db, 'acme', '2026-11-11');
    const lines = await currentLines(conn.db, 'acme', '2026-11-11');
    expect(lines.find((l) => l.userId === 'down')).toMatchObject({ item: 'license.standard', amount: 63 });
    expect(lines.find((l) => l.userId === 'removed')).toBeUndefined();
    expect(lines.filter((l) => l.userId.startsWith('daily-'))).toEqual([]);
    expect(lines.find((l) => l.userId === 'ent-rec')).toMatchObject({
      item: 'license.enterprise',
      amount: 197,
    });
  });

  it('skips days before the first day without a run, refuses a day that is not billable yet', async () => {
    expect(await bill(conn.db, 'acme', '2026-10-31')).toEqual({
      status: 'skipped',
      reason: 'before-first-day',
    });
    const early = new Date('2026-11-11T00:30:00Z'); // 01:30 local on D+1, cut-off is 02:00
    const error = await bill(conn.db, 'acme', '2026-11-10', early).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DayNotBillableError);
    expect((error as DayNotBillableError).exitCode).toBe(2);
    expect((error as Error).message).toContain('2026-11-10');
    expect((error as Error).message).toContain('acme');
    const runs = await conn.db.selectFrom('runs').select('day').where('day', '=', '2026-10-31').execute();
    expect(runs).toEqual([]);
  });

  it('the same day billed twice gives identical lines; the first run is kept, superseded', async () => {
    const first = await currentLines(conn.db, 'acme', '2026-11-10');
    const again = await bill(conn.db, 'acme', '2026-11-10');
    expect(again.status === 'billed' && again.diff.rows).toEqual([]);
    expect(await currentLines(conn.db, 'acme', '2026-11-10')).toEqual(first);
    const runs = await conn.db
      .selectFrom('runs')
      .selectAll()
      .where('tenant_id', '=', 'acme')
      .where('day', '=', '2026-11-10')
      .orderBy('id')
      .execute();
    expect(runs.map((r) => r.is_current)).toEqual([false, true]);
    expect(runs[0]?.superseded_at).not.toBeNull();
    const kept = await conn.db
      .selectFrom('charge_lines')
      .select('user_id')
      .where('run_id', '=', runs[0]?.id as string)
      .execute();
    expect(kept).toHaveLength(first.length);
  });
});

describe('time zones and currencies', () => {
  let conn: TestDatabase;
  beforeAll(async () => {
    conn = await createTestDatabase();
  });
  afterAll(async () => conn?.close());

  it('Prague 2026-10-25 is 25 hours long: a version at 23:30 local that night belongs to it', async () => {
    await seedTenant(conn.db, { id: 'prg', timezone: 'Europe/Prague' });
    await addVersions(conn.db, 'prg', [
      { userId: 'gone', at: '2026-10-01T00:00:00+02:00', license: 'standard' },
      { userId: 'gone', at: '2026-10-24T22:00:00Z', license: 'standard', active: false }, // = local midnight of the 25th
      { userId: 'late', at: '2026-10-25T22:30:00Z', license: 'professional' }, // 23:30 CET on the 25th
    ]);
    await bill(conn.db, 'prg', '2026-10-25');
    // October: 31 days; day 25 of professional 3900 = 3145 - 3019 = 126.
    expect(await currentLines(conn.db, 'prg', '2026-10-25')).toEqual([
      { userId: 'late', item: 'license.professional', billing: 'monthly', amount: 126, unitPrice: 3900 },
    ]);
  });

  it('Sydney 2026-10-04 is 23 hours long: 00:30 AEDT on the 5th is not part of it', async () => {
    await seedTenant(conn.db, { id: 'syd', timezone: 'Australia/Sydney' });
    await addVersions(conn.db, 'syd', [
      { userId: 'in', at: '2026-10-04T12:30:00Z', license: 'standard' }, // 23:30 AEDT on the 4th
      { userId: 'out', at: '2026-10-04T13:30:00Z', license: 'standard' }, // 00:30 AEDT on the 5th
    ]);
    await bill(conn.db, 'syd', '2026-10-04');
    await bill(conn.db, 'syd', '2026-10-05');
    expect((await currentLines(conn.db, 'syd', '2026-10-04')).map((l) => l.userId)).toEqual(['in']);
    expect((await currentLines(conn.db, 'syd', '2026-10-05')).map((l) => l.userId)).toEqual(['in', 'out']);
  });

  it('JPY (0 minor digits) and KWD (3 minor digits) are billed in their own minor units', async () => {
    const scaled = (k: number) => ({
      monthly: Object.fromEntries(
        Object.entries(BOOK.monthly).map(([i, v]) => [i, v * k]),
      ) as typeof BOOK.monthly,
      daily: Object.fromEntries(Object.entries(BOOK.daily).map(([i, v]) => [i, v * k])) as typeof BOOK.daily,
    });
    await seedTenant(conn.db, { id: 'yen', timezone: 'Asia/Tokyo', currency: 'JPY', book: scaled(3) });
    await seedTenant(conn.db, { id: 'kwd', timezone: 'Asia/Kuwait', currency: 'KWD', book: scaled(7) });
    for (const t of ['yen', 'kwd']) {
      await addVersions(conn.db, t, [{ userId: 'u', at: '2026-11-01T00:00:00Z', license: 'standard' }]);
      await bill(conn.db, t, '2026-11-10');
    }
    // 5700 JPY a month, day 10 of 30: 1900 - 1710 = 190; 13.300 KWD: 4433 - 3990 = 443 fils.
    expect(await currentLines(conn.db, 'yen', '2026-11-10')).toMatchObject([
      { amount: 190, unitPrice: 5700 },
    ]);
    expect(await currentLines(conn.db, 'kwd', '2026-11-10')).toMatchObject([
      { amount: 443, unitPrice: 13300 },
    ]);
    const runs = await conn.db
      .selectFrom('runs')
      .select(['tenant_id', 'currency', 'total'])
      .where('tenant_id', 'in', ['yen', 'kwd'])
      .orderBy('tenant_id')
      .execute();
    expect(runs).toEqual([
      { tenant_id: 'kwd', currency: 'KWD', total: '443' },
      { tenant_id: 'yen', currency: 'JPY', total: '190' },
    ]);
  });

  it('a missing or foreign-currency price fails the whole day, naming tenant, day and item; nothing is written', async () => {
    await seedTenant(conn.db, { id: 'nobook', book: null });
    await addVersions(conn.db, 'nobook', [
      { userId: 'a', at: '2026-11-01T00:00:00Z', license: 'dashboard' },
      { userId: 'b', at: '2026-11-01T00:00:00Z', license: 'developer' },
    ]);
    const error = await bill(conn.db, 'nobook', '2026-11-10').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DayBillingError);
    expect((error as DayBillingError).exitCode).toBe(1);
    expect((error as Error).message).toMatch(/nobook.*2026-11-10.*license\.dashboard/);
    // A default book in another currency is no better.
    await conn.db
      .insertInto('price_books')
      .values({
        tenant_id: null,
        currency: 'USD',
        valid_from: '2026-01-01',
        monthly_dashboard: 1,
        monthly_standard: 1,
        monthly_professional: 1,
        monthly_enterprise: 1,
        monthly_developer: 1,
        monthly_recording: 1,
        daily_professional: 1,
        daily_enterprise: 1,
        daily_recording: 1,
      })
      .execute();
    const foreign = await bill(conn.db, 'nobook', '2026-11-10').catch((e: unknown) => e);
    expect((foreign as Error).message).toMatch(/nobook.*2026-11-10.*license\.dashboard.*USD.*EUR/);
    const runs = await conn.db.selectFrom('runs').selectAll().where('tenant_id', '=', 'nobook').execute();
    expect(runs).toEqual([]);
  });
});

/**
 * A pool whose clients swallow the 'error' event of a terminated backend (the query itself still
 * rejects): pg emits it on the checked-out client besides failing the query.
 */
function ownPool(url: string): Db {
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    types: {
      getTypeParser: ((oid: number, f?: 'text' | 'binary') =>
        oid === 1082 ? (v: string) => v : pg.types.getTypeParser(oid, f)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

describe('atomicity and concurrency', () => {
  let conn: TestDatabase;
  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedTenant(conn.db, { id: 'acme' });
    await addVersions(
      conn.db,
      'acme',
      Array.from({ length: 50 }, (_, i) => ({
        userId: `u${i}`,
        at: '2026-11-01T00:00:00Z',
        license: 'standard' as const,
      })),
    );
  });
  afterAll(async () => conn?.close());

  it('a run killed half-way (backend terminated mid-transaction) leaves the previous lines; a retry completes', async () => {
    await bill(conn.db, 'acme', '2026-11-10');
    const before = await currentLines(conn.db, 'acme', '2026-11-10');
    await addVersions(conn.db, 'acme', [{ userId: 'u0', at: '2026-11-10T08:00:00Z', license: 'enterprise' }]);
    // Another session holds charge_lines, so the run stops right after inserting its run row.
    const blocker = new pg.Client({ connectionString: conn.url });
    await blocker.connect();
    await blocker.query('BEGIN; LOCK TABLE charge_lines IN EXCLUSIVE MODE');
    const victim = ownPool(conn.url);
    const killed = bill(victim, 'acme', '2026-11-10').catch((e: unknown) => e);
    // A separate session: pg_stat_activity is read once per transaction, so the blocker's would be stale.
    const watcher = new pg.Client({ connectionString: conn.url });
    await watcher.connect();
    let pid: number | undefined;
    for (let i = 0; i < 200 && pid === undefined; i++) {
      const r = await watcher.query(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO charge_lines%'",
      );
      pid = r.rows[0]?.pid;
      if (pid === undefined) await new Promise((res) => setTimeout(res, 50));
    }
    try {
      expect(pid).toBeDefined();
      await watcher.query('SELECT pg_terminate_backend($1)', [pid]);
      expect(await killed).toBeInstanceOf(Error);
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
      await watcher.end();
      await victim.destroy();
    }
    expect(await currentLines(conn.db, 'acme', '2026-11-10')).toEqual(before);
    const runs = await conn.db.selectFrom('runs').select('id').where('day', '=', '2026-11-10').execute();
    expect(runs).toHaveLength(1);
    const retry = await bill(conn.db, 'acme', '2026-11-10');
    expect(retry.status).toBe('billed');
    const after = await currentLines(conn.db, 'acme', '2026-11-10');
    expect(after.find((l) => l.userId === 'u0')).toMatchObject({ item: 'license.enterprise', amount: 196 });
    expect(after).toHaveLength(50);
  });

  it('two concurrent runs of the same day end with one current run and no mixed lines', async () => {
    const results = await Promise.all([1, 2, 3].map(() => bill(conn.db, 'acme', '2026-11-12')));
    expect(results.map((r) => r.status)).toEqual(['billed', 'billed', 'billed']);
    const { rows } = await sql<{ current: string; runs: string }>`
      SELECT count(*) FILTER (WHERE is_current)::text AS current, count(*)::text AS runs
      FROM runs WHERE tenant_id = 'acme' AND day = '2026-11-12'
    `.execute(conn.db);
    expect(rows[0]).toEqual({ current: '1', runs: '3' });
    expect(await currentLines(conn.db, 'acme', '2026-11-12')).toHaveLength(50);
  });
});
