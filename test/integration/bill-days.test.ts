import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BillDayInput, type BillDayOutcome, billDay } from '../../src/billing/bill-day.service.ts';
import { billDays, type DayBilled } from '../../src/billing/bill-days.service.ts';
import { DayBillingError } from '../../src/billing/errors.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { BACKENDS } from '../support/backends.ts';
import { heldMonthRows } from '../support/month-rows.ts';
import { addActivity, addVersions, BOOK, currentLines, seedTenant } from './bill-day-fixtures.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const AT = '2026-10-20T12:00:00Z';

/** What billDay would say, without the run ids (they differ between two billings). */
function comparable(r: DayBilled | { outcome: BillDayOutcome }): unknown {
  if ('error' in r) return { error: r.error.message };
  const o = r.outcome;
  return 'runId' in o ? { ...o, runId: o.runId === null ? null : 'run' } : o;
}

/** Every written row that must be the same whether the days were billed alone or in a batch. */
async function written(db: Db) {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  return {
    lines: await q(sql`
      SELECT r.tenant_id, r.day, r.kind, r.trigger, r.is_current, r.input_revision, r.line_count, r.total::text,
             l.user_id, l.item, l.billing, l.amount::text, l.unit_price::text
      FROM runs r LEFT JOIN charge_lines l ON l.run_id = r.id ORDER BY 1, 2, r.id, 9, 10`),
    adjustments: await q(sql`
      SELECT tenant_id, period, day, user_id, item, billing, amount::text FROM adjustment_lines ORDER BY 1, 2, 3, 4, 5`),
    sums: await q(sql`
      SELECT r.tenant_id, r.day, t.item, t.billing, t.lines, t.amount::text
      FROM console_run_totals t JOIN runs r ON r.id = t.run_id WHERE r.is_current ORDER BY 1, 2, 3, 4`),
    counts: await q(
      sql`SELECT tenant_id, day, revision, active_users FROM day_activity_counts ORDER BY 1, 2`,
    ),
    failures: await q(sql`SELECT tenant_id, day, trigger, error FROM run_failures ORDER BY 1, 2`),
    monthRows: await heldMonthRows(db),
  };
}

/** The export's month rows as the grouping of the current lines computes them from scratch. */
async function groupedCurrentLines(db: Db) {
  const { rows } = await sql`
    SELECT r.tenant_id AS "tenantId", to_char(r.day, 'YYYY-MM') AS month, l.user_id AS "userId", l.item,
           l.billing COLLATE "C" AS billing, l.unit_price::text AS "unitPrice", r.currency::text AS currency,
           sum(1 << (extract(day FROM r.day)::int - 1))::int AS days, count(*)::int AS quantity,
           sum(l.amount)::text AS amount, min(r.day)::text AS "firstDay", max(r.day)::text AS "lastDay"
    FROM runs r JOIN charge_lines l ON l.run_id = r.id
    WHERE r.is_current
    GROUP BY r.tenant_id, 2, l.user_id, l.item, 5, l.unit_price, r.currency
    ORDER BY 1, 2, 3, 4, 5, 6`.execute(db);
  return rows;
}

async function reset(db: Db) {
  await sql`DELETE FROM console_run_totals`.execute(db);
  await sql`DELETE FROM charge_lines`.execute(db);
  await sql`DELETE FROM adjustment_lines`.execute(db);
  await sql`DELETE FROM runs`.execute(db);
  await sql`DELETE FROM run_failures`.execute(db);
  await sql`DELETE FROM day_activity_counts`.execute(db);
  await sql`DELETE FROM invoice_month_rows`.execute(db);
  await sql`DELETE FROM invoice_month_days`.execute(db);
  await sql`DELETE FROM invoice_month_bases`.execute(db);
}

describe.each(BACKENDS)('billDays: many tenant-days per transaction on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    const db = conn.db;
    for (const [i, id] of ['a1', 'b2', 'c3'].entries()) {
      await seedTenant(db, {
        id,
        timezone: ['Europe/Prague', 'Asia/Tokyo', 'America/New_York'][i] as string,
      });
      await addVersions(db, id, [
        { userId: 'm', at: AT, license: 'standard', recordCalls: true },
        { userId: 'd', at: AT, license: 'professional', billing: 'daily' },
        { userId: 'e', at: AT, license: 'enterprise' },
      ]);
      await addActivity(db, id, '2026-11-02', ['d']);
    }
    // No price book at all: its days need a price and fail, naming the item.
    await seedTenant(db, { id: 'nobook', book: null });
    await addVersions(db, 'nobook', [{ userId: 'm', at: AT, license: 'standard' }]);
    // October closed: its days get adjustment lines (through billDay's own steps in the batch).
    await seedTenant(db, { id: 'shut' });
    await addVersions(db, 'shut', [{ userId: 'm', at: AT, license: 'developer' }]);
    await sql`INSERT INTO periods (tenant_id, month, closed_at) VALUES ('shut', '2026-10', now())`.execute(
      db,
    );
    // Its own prices (not the default's), a user changed in the middle of 2026-11-05 (the query's
    // `split` branch), one who stopped on 2026-11-04, a daily user active on the 5th only.
    await seedTenant(db, {
      id: 'own',
      timezone: 'Australia/Sydney',
      book: { monthly: { ...BOOK.monthly, standard: 2300 }, daily: { ...BOOK.daily, professional: 310 } },
    });
    await addVersions(db, 'own', [
      { userId: 's', at: AT, license: 'standard' },
      { userId: 's', at: '2026-11-05T03:00:00Z', license: 'professional', recordCalls: true },
      { userId: 'q', at: AT, license: 'dashboard' },
      { userId: 'q', at: '2026-11-04T05:00:00Z', license: 'dashboard', active: false },
      { userId: 'p', at: AT, license: 'professional', billing: 'daily', recordCalls: true },
    ]);
    await addActivity(db, 'own', '2026-11-05', ['p']);
  });
  afterAll(async () => conn?.close());

  const inputs = (days: [string, string][], extra: Partial<BillDayInput> = {}): BillDayInput[] =>
    days.map(([tenantId, day]) => ({ tenantId, day, trigger: 'manual', now: NOW, ...extra }));

  const NIGHT: [string, string][] = [
    ['a1', '2026-11-02'],
    ['b2', '2026-11-02'],
    ['nobook', '2026-11-02'],
    ['c3', '2026-11-02'],
    ['shut', '2026-10-30'],
    ['a1', '2026-11-03'],
    ['c3', '2026-10-10'], // before c3's first day
  ];

  it('gives each day the outcome and the rows billDay gives it alone; a missing price fails its day only', async () => {
    const db = conn.db;
    await reset(db);
    const batched = await billDays(db, inputs(NIGHT));
    const batchedRows = await written(db);

    await reset(db);
    const alone: (DayBilled | { outcome: BillDayOutcome })[] = [];
    for (const input of inputs(NIGHT)) {
      try {
        alone.push({ outcome: await billDay(db, input) });
      } catch (error) {
        alone.push({ error: error as Error });
      }
    }
    expect(batched.map(comparable)).toEqual(alone.map(comparable));
    expect(batchedRows).toEqual(await written(db));
    expect(batchedRows.monthRows.length).toBeGreaterThan(0);
    expect(batchedRows.monthRows).toEqual(await groupedCurrentLines(db));

    expect(batched.map((r) => ('error' in r ? 'error' : r.outcome.status))).toEqual([
      'billed',
      'billed',
      'error',
      'billed',
      'adjusted',
      'billed',
      'skipped',
    ]);
    const failed = batched[2] as { error: Error };
    expect(failed.error).toBeInstanceOf(DayBillingError);
    expect(failed.error.message).toMatch(/nobook/);
    expect(batchedRows.failures).toHaveLength(1);
    expect((await currentLines(db, 'a1', '2026-11-02')).map((l) => `${l.userId} ${l.item}`)).toEqual([
      'd license.professional',
      'e license.enterprise',
      'm addon.recording',
      'm license.standard',
    ]);
  });

  it('planned days already billed are skipped; billed again, the lines are the same and one run is current', async () => {
    const db = conn.db;
    await reset(db);
    const open: [string, string][] = NIGHT.filter(([t]) => t !== 'nobook' && t !== 'shut');
    await billDays(db, inputs(open));
    const first = await written(db);
    const again = await billDays(db, inputs(open, { onlyIfDue: true }));
    expect(again.map((r) => ('outcome' in r ? r.outcome.status : 'error'))).toEqual([
      'skipped',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(await written(db)).toEqual(first);

    const rebilled = await billDays(db, inputs(open));
    expect(rebilled.slice(0, 4).every((r) => 'outcome' in r && r.outcome.status === 'billed')).toBe(true);
    for (const [t, d] of open.slice(0, 4)) {
      const { rows } = await sql<{ current: string; all: string }>`
        SELECT count(*) FILTER (WHERE is_current)::text AS current, count(*)::text AS all
        FROM runs WHERE tenant_id = ${t} AND day = ${d}::date`.execute(db);
      expect(rows[0]).toEqual({ current: '1', all: '2' });
    }
    const after = await written(db);
    expect(after.sums).toEqual(first.sums);
    // Superseded in a batch, the month rows still equal the grouping of the current lines.
    expect(after.monthRows).toEqual(first.monthRows);
    expect(after.monthRows).toEqual(await groupedCurrentLines(db));
    // A re-run of unchanged data: empty diffs, the same totals.
    for (const r of rebilled.slice(0, 4)) {
      if (!('outcome' in r) || r.outcome.status !== 'billed') throw new Error('expected billed');
      expect(r.outcome.diff.rows).toEqual([]);
      expect(r.outcome.diff.totals.delta).toBe(0);
    }
  });

  it('a day that fails inside a batch rolls it back, and its days are billed one by one', async () => {
    const db = conn.db;
    await reset(db);
    // nobook's October is closed too: billDay's closed-month steps throw inside the batch's
    // transaction, which rolls back; then each day gets its own transaction.
    await sql`INSERT INTO periods (tenant_id, month, closed_at) VALUES ('nobook', '2026-10', now())`.execute(
      db,
    );
    try {
      const days: [string, string][] = [
        ['a1', '2026-10-30'],
        ['nobook', '2026-10-30'],
        ['b2', '2026-10-30'],
      ];
      const batched = await billDays(db, inputs(days));
      expect(batched.map((r) => ('error' in r ? r.error.constructor.name : r.outcome.status))).toEqual([
        'billed',
        'DayBillingError',
        'billed',
      ]);
      expect((await written(db)).failures).toEqual([
        expect.objectContaining({ tenant_id: 'nobook', day: '2026-10-30', trigger: 'manual' }),
      ]);
      expect(await currentLines(db, 'a1', '2026-10-30')).toHaveLength(3);
    } finally {
      await sql`DELETE FROM periods WHERE tenant_id = 'nobook'`.execute(db);
    }
  });

  it('a batch that reaches its line limit commits and leaves the rest to the next; a day given twice is billed twice', async () => {
    const db = conn.db;
    await reset(db);
    const days: [string, string][] = [
      ['a1', '2026-11-02'],
      ['b2', '2026-11-02'],
      ['c3', '2026-11-02'],
      ['a1', '2026-11-02'],
    ];
    // 4 lines a day: a limit of 5 lines makes batches of two days, then one, then one.
    const cut = await billDays(db, inputs(days), undefined, { maxLines: 5 });
    const cutRows = await written(db);
    await reset(db);
    const whole = await billDays(db, inputs(days));
    expect(cut.map(comparable)).toEqual(whole.map(comparable));
    expect(cutRows).toEqual(await written(db));
    expect(cut.map((r) => ('outcome' in r ? r.outcome.status : 'error'))).toEqual([
      'billed',
      'billed',
      'billed',
      'billed',
    ]);
    // No run is left behind by the cut: a current run per tenant-day, a1's first one superseded.
    const { rows } = await sql<{ runs: string; current: string }>`
      SELECT count(*)::text AS runs, count(*) FILTER (WHERE is_current)::text AS current FROM runs`.execute(
      db,
    );
    expect(rows[0]).toEqual({ runs: '4', current: '3' });
  });

  it('one lines statement for many days: first runs and re-runs mixed, changes inside a day, own prices, diffs, as billDay alone', async () => {
    const db = conn.db;
    const first: [string, string][] = [
      ['own', '2026-11-04'],
      ['a1', '2026-11-02'],
    ];
    const days: [string, string][] = [
      ['own', '2026-11-03'],
      ['own', '2026-11-04'], // a re-run (billed by `first`)
      ['own', '2026-11-05'],
      ['a1', '2026-11-02'], // a re-run
      ['b2', '2026-11-02'],
      ['nobook', '2026-11-02'], // fails alone between two charge days
      ['c3', '2026-11-02'],
      ['a1', '2026-11-03'],
      ['own', '2026-11-06'],
    ];
    // a1's daily user leaves the day before its re-run (no revision bump, so both billings read
    // the same revisions): the re-run's diff and month rows are not empty.
    const rebill = async (bill: (inputs: BillDayInput[]) => Promise<unknown[]>) => {
      await reset(db);
      await bill(inputs(first));
      await sql`DELETE FROM daily_activity WHERE tenant_id = 'a1' AND day = '2026-11-02' AND user_id = 'd'`.execute(
        db,
      );
      try {
        const results = await bill(inputs(days, { maxDiffRows: 3 }));
        return { results: results.map((r) => comparable(r as DayBilled)), rows: await written(db) };
      } finally {
        await sql`
          INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
          VALUES ('a1', '2026-11-02', 'd', '2026-11-02 12:00', '2026-11-02 12:00', 1)`.execute(db);
      }
    };
    const batched = await rebill((i) => billDays(db, i));
    const alone = await rebill(async (i) => {
      const out: (DayBilled | { outcome: BillDayOutcome })[] = [];
      for (const input of i) {
        try {
          out.push({ outcome: await billDay(db, input) });
        } catch (error) {
          out.push({ error: error as Error });
        }
      }
      return out;
    });
    expect(batched).toEqual(alone);
    expect(batched.rows.monthRows).toEqual(await groupedCurrentLines(db));
    // `comparable` gives an outcome as it is, an error as { error }.
    const statuses = (batched.results as { status?: string }[]).map((r) => r.status ?? 'error');
    expect(statuses).toEqual([
      'billed',
      'billed',
      'billed',
      'billed',
      'billed',
      'error',
      'billed',
      'billed',
      'billed',
    ]);
    // The re-run of a1 shows the daily user gone (at most 3 diff rows), own's lines use own's prices.
    const rerun = batched.results[3] as { diff: { rows: { userId: string }[]; totals: { delta: number } } };
    expect(rerun.diff.rows.map((r) => r.userId)).toEqual(['d']);
    expect(rerun.diff.totals.delta).toBeLessThan(0);
    expect(
      (await currentLines(db, 'own', '2026-11-05')).map((l) => `${l.userId} ${l.item} ${l.unitPrice}`),
    ).toEqual([
      'p addon.recording 50',
      'p license.professional 310',
      's addon.recording 900',
      's license.professional 3900',
    ]);
    expect((await currentLines(db, 'own', '2026-11-06')).map((l) => l.userId)).toEqual(['s', 's']);
  });
});
