import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { closePeriod } from '../../src/billing/close-period.service.ts';
import { type BillRangeInput, billRange } from '../../src/billing/run-range.service.ts';
import { InputError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { addActivity, addVersions, seedAcme } from './bill-day-fixtures.ts';

const NOW = new Date('2026-12-15T00:00:00Z');

/** Bills acme's November: from its first day (the 20th) to the end of the month. */
function billNovember(
  conn: TestDatabase,
  trigger: BillRangeInput['trigger'],
  more: Partial<BillRangeInput> = {},
) {
  return billRange(conn.db, {
    tenantId: 'acme',
    from: '2026-11-20',
    to: '2026-11-30',
    trigger,
    now: NOW,
    ...more,
  });
}

/** Every charge line of the current runs of a month, as stored (for "never changes again"). */
async function monthLines(conn: TestDatabase, month: string) {
  const { rows } = await sql`
    SELECT r.id, r.day, l.* FROM runs r JOIN charge_lines l ON l.run_id = r.id
    WHERE r.tenant_id = 'acme' AND to_char(r.day, 'YYYY-MM') = ${month} AND r.is_current
    ORDER BY r.day, l.user_id, l.item
  `.execute(conn.db);
  return rows;
}

async function adjustments(conn: TestDatabase) {
  const { rows } = await sql<{ period: string; day: string; user_id: string; item: string; amount: string }>`
    SELECT period, day, user_id, item, amount FROM adjustment_lines WHERE tenant_id = 'acme' ORDER BY day, user_id, item, run_id
  `.execute(conn.db);
  return rows;
}

describe('closing periods and adjustments', () => {
  let conn: TestDatabase;
  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedAcme(conn.db, [
      { userId: 'u1', at: '2026-11-20T00:00:00+01:00', license: 'standard' },
      { userId: 'd1', at: '2026-11-20T00:00:00+01:00', license: 'enterprise', billing: 'daily' },
    ]);
  });
  afterAll(async () => conn?.close());

  it('refuses to close while a day has no current run, and lists the missing days', async () => {
    await billNovember(conn, 'manual');
    await sql`DELETE FROM charge_lines WHERE run_id IN (SELECT id FROM runs WHERE day IN ('2026-11-23', '2026-11-27'))`.execute(
      conn.db,
    );
    await sql`DELETE FROM console_run_totals WHERE run_id IN (SELECT id FROM runs WHERE day IN ('2026-11-23', '2026-11-27'))`.execute(
      conn.db,
    );
    await sql`DELETE FROM runs WHERE day IN ('2026-11-23', '2026-11-27')`.execute(conn.db);
    const error = await closePeriod(conn.db, { tenantId: 'acme', month: '2026-11', now: NOW }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).exitCode).toBe(2);
    expect((error as Error).message).toContain('2026-11-23, 2026-11-27');
    expect((error as Error).message).not.toContain('2026-11-19'); // before the tenant's first day
    // A day that is not billable yet is missing too.
    const early = await closePeriod(conn.db, { tenantId: 'acme', month: '2026-12', now: NOW }).catch(
      (e: unknown) => e,
    );
    expect((early as Error).message).toContain('2026-12-31');
    expect(await conn.db.selectFrom('periods').selectAll().execute()).toEqual([]);
  });

  it('closes once every day is billed; closing again is a no-op', async () => {
    await billNovember(conn, 'catch-up');
    expect(await closePeriod(conn.db, { tenantId: 'acme', month: '2026-11', now: NOW })).toEqual({
      closed: true,
      month: '2026-11',
    });
    const period = await conn.db.selectFrom('periods').selectAll().execute();
    expect(
      await closePeriod(conn.db, {
        tenantId: 'acme',
        month: '2026-11',
        now: new Date('2027-01-01T00:00:00Z'),
      }),
    ).toEqual({
      closed: false,
      month: '2026-11',
    });
    expect(await conn.db.selectFrom('periods').selectAll().execute()).toEqual(period);
  });

  it('after closing, replays and late data write adjustments into the next open period; closed lines never change', async () => {
    const closedLines = await monthLines(conn, '2026-11');
    const runsBefore = await conn.db.selectFrom('runs').select(['id', 'is_current']).orderBy('id').execute();
    // Late login of the daily user on the 25th, and a back-dated upgrade of u1 from the 28th.
    await addActivity(conn.db, 'acme', '2026-11-25', ['d1']);
    await addVersions(conn.db, 'acme', [
      { userId: 'u1', at: '2026-11-28T09:00:00+01:00', license: 'professional' },
    ]);
    const dry = await billNovember(conn, 'replay', { dryRun: true });
    expect(await adjustments(conn)).toEqual([]);
    const replay = await billNovember(conn, 'replay', { maxDiffRows: null });
    expect(await monthLines(conn, '2026-11')).toEqual(closedLines);
    // The current runs are the same ones; only non-current adjustment runs were added.
    const runsAfter = await conn.db
      .selectFrom('runs')
      .select(['id', 'is_current', 'kind'])
      .orderBy('id')
      .execute();
    expect(runsAfter.filter((r) => r.is_current).map((r) => r.id)).toEqual(
      runsBefore.filter((r) => r.is_current).map((r) => r.id),
    );
    expect(runsAfter.slice(runsBefore.length).every((r) => r.kind === 'adjustment' && !r.is_current)).toBe(
      true,
    );

    // 3900/30 vs 1900/30 shares on the 28th–30th; 390 daily enterprise on the 25th.
    expect(await adjustments(conn)).toEqual([
      {
        period: '2026-12',
        day: '2026-11-25',
        user_id: 'd1',
        item: 'adjustment.license.enterprise',
        amount: '390',
      },
      {
        period: '2026-12',
        day: '2026-11-28',
        user_id: 'u1',
        item: 'adjustment.license.professional',
        amount: '130',
      },
      {
        period: '2026-12',
        day: '2026-11-28',
        user_id: 'u1',
        item: 'adjustment.license.standard',
        amount: '-63',
      },
      {
        period: '2026-12',
        day: '2026-11-29',
        user_id: 'u1',
        item: 'adjustment.license.professional',
        amount: '130',
      },
      {
        period: '2026-12',
        day: '2026-11-29',
        user_id: 'u1',
        item: 'adjustment.license.standard',
        amount: '-63',
      },
      {
        period: '2026-12',
        day: '2026-11-30',
        user_id: 'u1',
        item: 'adjustment.license.professional',
        amount: '130',
      },
      {
        period: '2026-12',
        day: '2026-11-30',
        user_id: 'u1',
        item: 'adjustment.license.standard',
        amount: '-64',
      },
    ]);
    const totalDelta = replay.results.reduce(
      (s, r) => s + ('outcome' in r && r.outcome.status === 'adjusted' ? r.outcome.diff.totals.delta : 0),
      0,
    );
    const dryDelta = dry.results.reduce(
      (s, r) => s + ('outcome' in r && r.outcome.status === 'dry-run' ? r.outcome.diff.totals.delta : 0),
      0,
    );
    const adjustmentSum = (await adjustments(conn)).reduce((s, a) => s + Number(a.amount), 0);
    expect(adjustmentSum).toBe(totalDelta);
    expect(dryDelta).toBe(totalDelta);
    expect(totalDelta).toBe(390 + 3 * 130 - 63 - 63 - 64);

    // Replaying again with nothing changed adds nothing at all.
    const runCount = runsAfter.length;
    const again = await billNovember(conn, 'replay');
    expect(
      again.results.every(
        (r) => 'outcome' in r && r.outcome.status === 'adjusted' && r.outcome.runId === null,
      ),
    ).toBe(true);
    expect(await conn.db.selectFrom('runs').select('id').execute()).toHaveLength(runCount);
    expect(await monthLines(conn, '2026-11')).toEqual(closedLines);
  });

  it('late data that changes nothing records its revision once (a 0-line adjustment run), then nothing', async () => {
    await addActivity(conn.db, 'acme', '2026-11-26', ['u1']); // a monthly user: no amount changes
    const first = await billDay(conn.db, {
      tenantId: 'acme',
      day: '2026-11-26',
      trigger: 'late-data',
      now: NOW,
    });
    expect(first).toMatchObject({ status: 'adjusted', lineCount: 0, total: 0 });
    expect(first.status === 'adjusted' && first.runId).not.toBeNull();
    const { rows } = await sql<{ rev: string; max: string }>`
      SELECT (SELECT max(revision) FROM day_marks WHERE tenant_id = 'acme' AND '2026-11-26' BETWEEN from_day AND to_day)::text AS rev,
             (SELECT max(input_revision) FROM runs WHERE tenant_id = 'acme' AND day = '2026-11-26')::text AS max
    `.execute(conn.db);
    expect(rows[0]?.max).toBe(rows[0]?.rev);
    const second = await billDay(conn.db, {
      tenantId: 'acme',
      day: '2026-11-26',
      trigger: 'late-data',
      now: NOW,
    });
    expect(second).toMatchObject({ status: 'adjusted', runId: null, lineCount: 0 });
  });

  it('adjustments go to the earliest OPEN period after the corrected day', async () => {
    await conn.db
      .insertInto('periods')
      .values({ tenant_id: 'acme', month: '2026-12', closed_at: NOW })
      .execute();
    await addActivity(conn.db, 'acme', '2026-11-27', ['d1']);
    const r = await billDay(conn.db, { tenantId: 'acme', day: '2026-11-27', trigger: 'late-data', now: NOW });
    expect(r).toMatchObject({ status: 'adjusted', lineCount: 1, total: 390, period: '2027-01' });
  });
});
