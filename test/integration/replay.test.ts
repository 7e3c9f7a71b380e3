import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { billRange } from '../../src/billing/run-range.service.ts';
import { dayRange } from '../../src/domain/calendar.ts';
import { monthlyShare } from '../../src/domain/proration.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { addActivity, addVersions, currentLines, seedTenant, snapshotTables } from './bill-day-fixtures.ts';

const NOW = new Date('2026-12-15T00:00:00Z');
const NOV = dayRange('2026-11-01', '2026-11-10');

describe('replay', () => {
  let conn: TestDatabase;
  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedTenant(conn.db, { id: 'acme' });
    await seedTenant(conn.db, { id: 'beta' });
    for (const t of ['acme', 'beta']) {
      await addVersions(conn.db, t, [
        { userId: 'u1', at: '2026-11-01T00:00:00+01:00', license: 'standard' },
        { userId: 'u2', at: '2026-11-01T00:00:00+01:00', license: 'enterprise' },
        { userId: 'd1', at: '2026-11-01T00:00:00+01:00', license: 'professional', billing: 'daily' },
      ]);
    }
    await addActivity(conn.db, 'acme', '2026-11-03', ['d1']);
    const first = await billRange(conn.db, {
      from: '2026-11-01',
      to: '2026-11-10',
      trigger: 'manual',
      now: NOW,
    });
    expect(first.results.every((r) => 'outcome' in r && r.outcome.status === 'billed')).toBe(true);
  });
  afterAll(async () => conn?.close());

  const replay = (extra: { from?: string; to?: string; dryRun?: boolean; tenantId?: string } = {}) =>
    billRange(conn.db, {
      tenantId: extra.tenantId ?? 'acme',
      from: extra.from ?? '2026-11-01',
      to: extra.to ?? '2026-11-10',
      trigger: 'replay',
      now: NOW,
      dryRun: extra.dryRun ?? false,
      maxDiffRows: null,
    });

  it('replaying unchanged data gives an empty diff and the same lines', async () => {
    const before = await currentLines(conn.db, 'acme', '2026-11-03');
    const result = await replay();
    for (const r of result.results) {
      if (!('outcome' in r) || r.outcome.status !== 'billed')
        throw new Error(`unexpected ${JSON.stringify(r)}`);
      expect(r.outcome.diff.rows).toEqual([]);
      expect(r.outcome.diff.totals.delta).toBe(0);
    }
    expect(await currentLines(conn.db, 'acme', '2026-11-03')).toEqual(before);
  });

  it('a dry run computes the diff of a back-dated change and leaves every table unchanged', async () => {
    // Back-dated: u1 became professional on 5 November at 10:00.
    await addVersions(conn.db, 'acme', [
      { userId: 'u1', at: '2026-11-05T10:00:00+01:00', license: 'professional' },
    ]);
    await addActivity(conn.db, 'acme', '2026-11-07', ['d1']); // a late login
    const tables = await snapshotTables(conn.db);
    const dry = await replay({ dryRun: true });
    expect(await snapshotTables(conn.db)).toEqual(tables);
    const expected = (day: string) => {
      const d = Number(day.slice(8));
      if (d < 5) return day === '2026-11-07' ? [] : [];
      const changes = [
        {
          userId: 'u1',
          item: 'license.professional',
          billing: 'monthly',
          before: 0,
          after: monthlyShare(3900, d, 30),
        },
        {
          userId: 'u1',
          item: 'license.standard',
          billing: 'monthly',
          before: monthlyShare(1900, d, 30),
          after: 0,
        },
      ];
      if (day === '2026-11-07') {
        changes.unshift({
          userId: 'd1',
          item: 'license.professional',
          billing: 'daily',
          before: 0,
          after: 250,
        });
      }
      return changes;
    };
    for (const r of dry.results) {
      if (!('outcome' in r) || r.outcome.status !== 'dry-run')
        throw new Error(`unexpected ${JSON.stringify(r)}`);
      expect(r.outcome.diff.rows, r.day).toEqual(expected(r.day));
      const delta = expected(r.day).reduce((s, c) => s + c.after - c.before, 0);
      expect(r.outcome.diff.totals.delta).toBe(delta);
    }
    // The real replay prints the same differences and makes them current.
    const real = await replay();
    for (const r of real.results) {
      if (!('outcome' in r) || r.outcome.status !== 'billed') throw new Error('unexpected');
      expect(r.outcome.diff.rows).toEqual(expected(r.day));
    }
    expect((await currentLines(conn.db, 'acme', '2026-11-07')).find((l) => l.userId === 'd1')).toMatchObject({
      amount: 250,
    });
  });

  it('an interrupted replay leaves every tenant-day old or new; running it again completes it', async () => {
    await addVersions(conn.db, 'beta', [
      { userId: 'u2', at: '2026-11-03T00:00:00+01:00', license: 'standard', active: false },
    ]);
    const oldLines = Object.fromEntries(
      await Promise.all(NOV.map(async (d) => [d, await currentLines(conn.db, 'beta', d)])),
    );
    const abort = new AbortController();
    const partial = await billRange(conn.db, {
      tenantId: 'beta',
      from: '2026-11-01',
      to: '2026-11-10',
      trigger: 'replay',
      now: NOW,
      signal: abort.signal,
      onProgress: ({ done }) => {
        if (done === 4) abort.abort();
      },
    });
    expect(partial.interrupted).toBe(true);
    expect(partial.results).toHaveLength(4);
    const newUsers = (day: string) => (day < '2026-11-03' ? ['u1', 'u2'] : ['u1']); // u2 removed from the 3rd
    for (const [i, day] of NOV.entries()) {
      const lines = await currentLines(conn.db, 'beta', day);
      if (i < 4) expect(lines.map((l) => l.userId)).toEqual(newUsers(day));
      else expect(lines).toEqual(oldLines[day]); // old, untouched
    }
    const resumed = await replay({ tenantId: 'beta' });
    expect(resumed.interrupted).toBe(false);
    for (const day of NOV)
      expect((await currentLines(conn.db, 'beta', day)).map((l) => l.userId)).toEqual(newUsers(day));
  });

  it('two concurrent replays of the same day end with one current run', async () => {
    await Promise.all([
      replay({ from: '2026-11-08', to: '2026-11-08' }),
      replay({ from: '2026-11-08', to: '2026-11-08' }),
    ]);
    const { rows } = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM runs WHERE tenant_id = 'acme' AND day = '2026-11-08' AND is_current
    `.execute(conn.db);
    expect(rows[0]?.n).toBe('1');
  });

  it('replaying a day without a current run simply bills it; days before the first day are skipped', async () => {
    const r = await replay({ from: '2026-10-31', to: '2026-11-11' });
    expect(r.results[0]).toMatchObject({ day: '2026-10-31', outcome: { status: 'skipped' } });
    const last = r.results[r.results.length - 1];
    expect(last).toMatchObject({ day: '2026-11-11', outcome: { status: 'billed' } });
    const dry = await billDay(conn.db, {
      tenantId: 'acme',
      day: '2026-11-12',
      trigger: 'replay',
      now: NOW,
      dryRun: true,
    });
    expect(dry).toMatchObject({ status: 'dry-run', closedPeriod: false });
  });
});
