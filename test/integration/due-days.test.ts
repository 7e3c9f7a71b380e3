import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingLag, findDueDays } from '../../src/billing/due-days.service.ts';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import type { Db } from '../../src/db/database.ts';
import { bumpDayRevisions, readDayRevision } from '../../src/db/repositories/day-revision.repository.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

/*
 * The planner against real PostgreSQL. Runs are inserted as bare rows here: the planner only
 * reads `runs` (is_current, kind, input_revision), so these tests do not depend on billDay.
 */

const RECEIVED = new Date('2026-01-01T00:00:00Z');

function version(tenantId: string, userId: string, effectiveAt: string, active = true) {
  return {
    tenantId,
    userId,
    effectiveAt,
    active,
    role: 'user',
    permissions: ['communication'],
    billing: 'monthly',
  };
}

async function importVersions(db: TestDatabase['db'], ...versions: object[]): Promise<void> {
  const input = Readable.from(`${versions.map((v) => JSON.stringify(v)).join('\n')}\n`);
  const r = await importSettingsFile(db, input, () => RECEIVED);
  expect(r.refused).toEqual([]);
}

async function insertRun(
  db: Db,
  run: {
    tenantId: string;
    day: string;
    current?: boolean;
    kind?: 'charge' | 'adjustment';
    inputRevision?: number;
  },
): Promise<void> {
  const kind = run.kind ?? 'charge';
  await db
    .insertInto('runs')
    .values({
      tenant_id: run.tenantId,
      day: run.day,
      kind,
      trigger: 'manual',
      is_current: run.current ?? kind === 'charge',
      input_revision: run.inputRevision ?? 0,
      started_at: RECEIVED,
      finished_at: RECEIVED,
      line_count: 0,
      total: 0,
      currency: 'EUR',
    })
    .execute();
}

async function currentRevision(db: Db, tenantId: string, day: string): Promise<number> {
  return readDayRevision(db, tenantId, day);
}

const due = async (db: Db, now: string, tenantId: string) =>
  (await findDueDays(db, new Date(now)))
    .filter((d) => d.tenantId === tenantId)
    .map((d) => `${d.day} ${d.trigger}`);

describe('findDueDays (planner) on PostgreSQL', () => {
  let conn: TestDatabase;
  beforeAll(async () => {
    conn = await createTestDatabase();
    const tenants = [
      { id: 'prague', timezone: 'Europe/Prague' },
      { id: 'late-cutoff', timezone: 'Europe/Prague', cutoffHour: 6 },
      { id: 'auckland', timezone: 'Pacific/Auckland' },
      { id: 'la', timezone: 'America/Los_Angeles' },
      { id: 'dst', timezone: 'Europe/Prague' },
      { id: 'revs', timezone: 'Europe/Prague' },
      { id: 'backdated', timezone: 'Europe/Prague' },
      { id: 'empty', timezone: 'Europe/Prague' },
    ];
    for (const t of tenants) await addTenant(conn.db, { name: t.id, currency: 'EUR', ...t });
    // A default book from before every first day: days before the first book are never planned.
    await loadPriceBook(conn.db, { ...CLI_PRICE_BOOK, validFrom: '2000-01-01' }, 'test');
    await importVersions(
      conn.db,
      // 23:30Z on the 24th is 00:30 on the 25th in Prague: the first day is the 25th.
      version('prague', 'u1', '2026-11-24T23:30:00Z'),
      // An inactive version still sets the first day.
      version('late-cutoff', 'u1', '2026-11-25T10:00:00+01:00', false),
      version('auckland', 'u1', '2026-11-20T00:00:00+13:00'),
      version('la', 'u1', '2026-11-20T00:00:00-08:00'),
      version('dst', 'u1', '2026-03-26T12:00:00+01:00'),
      version('dst', 'u2', '2026-10-22T12:00:00+02:00'),
      version('revs', 'u1', '2026-11-01T12:00:00+01:00'),
      version('backdated', 'u1', '2026-11-26T12:00:00+01:00'),
    );
  });
  afterAll(async () => conn?.close());

  it('bills from the local first day, catch-up oldest first and schedule for the latest billable day', async () => {
    // 02:30 in Prague on the 28th: past the 02:00 cut-off, so the 27th is billable.
    expect(await due(conn.db, '2026-11-28T01:30:00Z', 'prague')).toEqual([
      '2026-11-25 catch-up',
      '2026-11-26 catch-up',
      '2026-11-27 schedule',
    ]);
  });

  it('respects the cut-off hour: before it, yesterday is not billable yet', async () => {
    // 01:59 local: the 27th becomes billable only at 02:00.
    expect(await due(conn.db, '2026-11-28T00:59:59Z', 'prague')).toEqual([
      '2026-11-25 catch-up',
      '2026-11-26 schedule',
    ]);
    // cut-off 06:00; first day the 25th (an inactive version counts).
    expect(await due(conn.db, '2026-11-28T04:59:59Z', 'late-cutoff')).toEqual([
      '2026-11-25 catch-up',
      '2026-11-26 schedule',
    ]);
    expect(await due(conn.db, '2026-11-28T05:00:00Z', 'late-cutoff')).toEqual([
      '2026-11-25 catch-up',
      '2026-11-26 catch-up',
      '2026-11-27 schedule',
    ]);
    // A first day that is not billable yet gives nothing.
    expect(await due(conn.db, '2026-11-26T00:59:59Z', 'prague')).toEqual([]);
  });

  it('handles DST: the spring-forward cut-off falls after the gap, the autumn one at the first 02:00', async () => {
    await insertRun(conn.db, { tenantId: 'dst', day: '2026-03-26' });
    await insertRun(conn.db, { tenantId: 'dst', day: '2026-03-27' });
    // 2026-03-29 02:00 does not exist in Prague: the 28th becomes billable at 03:00 CEST = 01:00Z.
    expect(await due(conn.db, '2026-03-29T00:59:59Z', 'dst')).toEqual([]);
    expect(await due(conn.db, '2026-03-29T01:00:00Z', 'dst')).toEqual(['2026-03-28 schedule']);
    // 2026-10-25 02:00 happens twice; the first (CEST, 00:00Z) makes the 24th billable.
    const days = await due(conn.db, '2026-10-25T00:00:00Z', 'dst');
    expect(days.at(-1)).toBe('2026-10-24 schedule');
    expect(days[0]).toBe('2026-03-28 catch-up');
    expect(days).toHaveLength(211);
    expect((await due(conn.db, '2026-10-24T23:59:59Z', 'dst')).at(-1)).toBe('2026-10-23 schedule');
  });

  it('tenants in different zones have different latest billable days at the same instant', async () => {
    const now = '2026-11-22T13:30:00Z'; // Auckland 02:30 on the 23rd; Los Angeles 05:30 on the 22nd
    expect(await due(conn.db, now, 'auckland')).toEqual([
      '2026-11-20 catch-up',
      '2026-11-21 catch-up',
      '2026-11-22 schedule',
    ]);
    expect(await due(conn.db, now, 'la')).toEqual(['2026-11-20 catch-up', '2026-11-21 schedule']);
    // Tenants without settings versions have nothing to bill.
    expect(await due(conn.db, now, 'empty')).toEqual([]);
  });

  it('detects late data through day revisions; adjustment runs count as up to date', async () => {
    const now = '2026-11-04T03:00:00Z';
    for (const day of ['2026-11-01', '2026-11-02', '2026-11-03']) {
      await insertRun(conn.db, {
        tenantId: 'revs',
        day,
        inputRevision: await currentRevision(conn.db, 'revs', day),
      });
    }
    expect(await due(conn.db, now, 'revs')).toEqual([]);

    await bumpDayRevisions(conn.db, [
      { tenantId: 'revs', day: '2026-11-02' },
      { tenantId: 'revs', day: '2026-11-03' },
      { tenantId: 'revs', day: '2026-11-04' }, // not billable yet at `now`: not due
    ]);
    const found = (await findDueDays(conn.db, new Date(now))).filter((d) => d.tenantId === 'revs');
    expect(found).toEqual([
      {
        tenantId: 'revs',
        day: '2026-11-02',
        trigger: 'late-data',
        revision: await currentRevision(conn.db, 'revs', '2026-11-02'),
      },
      {
        tenantId: 'revs',
        day: '2026-11-03',
        trigger: 'late-data',
        revision: await currentRevision(conn.db, 'revs', '2026-11-03'),
      },
    ]);

    // A closed-period day: the adjustment run read the new revision, so the day is up to date.
    await insertRun(conn.db, {
      tenantId: 'revs',
      day: '2026-11-02',
      kind: 'adjustment',
      inputRevision: await currentRevision(conn.db, 'revs', '2026-11-02'),
    });
    // A superseded (non-current) charge run with a high revision does not count.
    await insertRun(conn.db, { tenantId: 'revs', day: '2026-11-03', current: false, inputRevision: 99 });
    expect(await due(conn.db, now, 'revs')).toEqual(['2026-11-03 late-data']);
  });

  it('a back-dated settings version moves the first day back and adds catch-up days', async () => {
    const now = '2026-11-28T03:00:00Z';
    await insertRun(conn.db, { tenantId: 'backdated', day: '2026-11-26' });
    await insertRun(conn.db, { tenantId: 'backdated', day: '2026-11-27' });
    expect(await due(conn.db, now, 'backdated')).toEqual([]);
    await importVersions(conn.db, version('backdated', 'u2', '2026-11-23T08:00:00+01:00'));
    expect(await due(conn.db, now, 'backdated')).toEqual([
      '2026-11-23 catch-up',
      '2026-11-24 catch-up',
      '2026-11-25 catch-up',
    ]);
  });

  it('billingLag counts the days from the oldest missing day to the latest billable day', async () => {
    const lag = new Map(
      (await billingLag(conn.db, new Date('2026-11-28T03:00:00Z'))).map((l) => [l.tenantId, l.days]),
    );
    expect(lag.get('prague')).toBe(3);
    expect(lag.get('backdated')).toBe(5); // 23rd..27th: the oldest missing day to the latest billable one
    expect(lag.get('empty')).toBeUndefined();
    await insertRun(conn.db, { tenantId: 'prague', day: '2026-11-25' });
    await insertRun(conn.db, { tenantId: 'prague', day: '2026-11-26' });
    await insertRun(conn.db, { tenantId: 'prague', day: '2026-11-27' });
    const after = new Map(
      (await billingLag(conn.db, new Date('2026-11-28T03:00:00Z'))).map((l) => [l.tenantId, l.days]),
    );
    expect(after.get('prague')).toBe(0);
  });
});
