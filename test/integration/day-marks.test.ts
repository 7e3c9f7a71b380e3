import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingLag, findDueDays, planRanges } from '../../src/billing/due-days.service.ts';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import { type DatabaseConnection, openEmbedded } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import {
  bumpDayRevisions,
  pruneConsumedMarks,
  readDayRevision,
} from '../../src/db/repositories/day-revision.repository.ts';
import { addDays, type Day, dayRange } from '../../src/domain/calendar.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { markedDays, markRowCount } from '../support/day-marks.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { migratorFor } from '../support/migrations.ts';

/*
 * Day marks are ranges (issue 10, issue 14 "Amplification"): a back-dated version costs one mark
 * row however far back it goes, and the planner and the lag still find exactly the days a
 * per-day marking would. Runs are bare rows: the planner only reads runs and marks.
 */

const NOW = new Date('2026-11-28T03:00:00Z'); // 04:00 in Prague: the 27th is the latest billable day

function version(tenantId: string, userId: string, effectiveAt: string) {
  return {
    tenantId,
    userId,
    effectiveAt,
    active: true,
    role: 'user',
    permissions: ['communication'],
    billing: 'monthly',
  };
}

async function importVersions(db: Db, receivedAt: Date, ...versions: object[]): Promise<void> {
  const input = Readable.from(`${versions.map((v) => JSON.stringify(v)).join('\n')}\n`);
  const r = await importSettingsFile(db as Db, input, () => receivedAt);
  expect(r.refused).toEqual([]);
}

async function insertRun(db: Db, tenantId: string, day: Day, inputRevision: number, current = true) {
  await db
    .insertInto('runs')
    .values({
      tenant_id: tenantId,
      day,
      kind: 'charge',
      trigger: 'manual',
      is_current: current,
      input_revision: inputRevision,
      started_at: NOW,
      finished_at: NOW,
      line_count: 0,
      total: 0,
      currency: 'EUR',
    })
    .execute();
}

/** Bills `days` as bare runs that read the day's revision now (as billDay would). */
async function billAsOfNow(db: Db, tenantId: string, days: readonly Day[]): Promise<void> {
  for (const day of days) await insertRun(db, tenantId, day, await readDayRevision(db, tenantId, day));
}

const dueOf = async (db: Db, tenantId: string) =>
  (await findDueDays(db, NOW, 100_000))
    .filter((d) => d.tenantId === tenantId)
    .map((d) => `${d.day} ${d.trigger}`);

/** The lag as it was computed before (every day of the range listed in Node): the reference. */
async function referenceLag(db: Db): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const r of await planRanges(db, NOW)) {
    const billed = new Set(
      (
        await db
          .selectFrom('runs')
          .select('day')
          .where('tenant_id', '=', r.tenantId)
          .where('is_current', '=', true)
          .execute()
      ).map((x) => x.day),
    );
    const days = dayRange(r.firstDay, r.lastDay);
    const oldest = days.findIndex((d) => !billed.has(d));
    out.set(r.tenantId, oldest === -1 ? 0 : days.length - oldest);
  }
  return out;
}

describe.each(BACKENDS)('day marks are ranges ($name)', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    await loadPriceBook(conn.db, { ...CLI_PRICE_BOOK, validFrom: '2000-01-01' }, 'test');
    for (const id of ['acme', 'ranges', 'perday', 'lag-a', 'lag-b', 'lag-c', 'lag-d', 'lag-e']) {
      await addTenant(conn.db, { id, name: id, timezone: 'Europe/Prague', currency: 'EUR' });
    }
  });
  afterAll(async () => conn?.close());

  it('a version back-dated by 10 years writes one mark row, like one back-dated by a day', async () => {
    const received = new Date('2026-11-27T10:00:00Z');
    await importVersions(conn.db, received, version('acme', 'now', '2026-11-27T09:00:00Z'));
    const base = await markRowCount(conn.db);
    await importVersions(conn.db, received, version('acme', 'day', '2026-11-26T09:00:00Z'));
    expect(await markRowCount(conn.db)).toBe(base + 1);
    await importVersions(conn.db, received, version('acme', 'decade', '2016-11-27T09:00:00Z'));
    expect(await markRowCount(conn.db)).toBe(base + 2);
    // ... and the oldest day allowed costs no more.
    await importVersions(conn.db, received, version('acme', 'ancient', '2000-01-02T12:00:00Z'));
    expect(await markRowCount(conn.db)).toBe(base + 3);
    // Every day it touches has a revision above what it had before.
    expect(await readDayRevision(conn.db, 'acme', '2000-01-02')).toBeGreaterThan(0);
    expect(await readDayRevision(conn.db, 'acme', '2016-11-27')).toBe(
      await readDayRevision(conn.db, 'acme', '2026-11-27'),
    );
    expect(await readDayRevision(conn.db, 'acme', '2000-01-01')).toBe(0);
    // A revision is always a number, never a string or a BigInt.
    expect(typeof (await readDayRevision(conn.db, 'acme', '2026-11-27'))).toBe('number');
  });

  it('the plan finds exactly the days the same history marked day by day finds', async () => {
    const span = dayRange('2026-10-01', '2026-11-27');
    for (const t of ['ranges', 'perday']) {
      await importVersions(
        conn.db,
        new Date('2026-10-01T12:00:00Z'),
        version(t, 'u1', '2026-10-01T10:00:00Z'),
      );
      // Billed, except a gap in October and the last two days.
      await billAsOfNow(
        conn.db,
        t,
        span.filter((d) => !['2026-10-10', '2026-10-11', '2026-11-26', '2026-11-27'].includes(d)),
      );
    }
    // The same back-dated version for both: marked as one range...
    for (const t of ['ranges', 'perday']) {
      await importVersions(conn.db, NOW, version(t, 'u2', '2026-10-20T10:00:00Z'));
    }
    // ... and for `perday`, the marks replaced by one mark per day (as the per-day table had).
    await conn.db.deleteFrom('day_marks').where('tenant_id', '=', 'perday').execute();
    for (const day of dayRange('2026-10-20', '2026-11-28')) {
      await bumpDayRevisions(conn.db, [{ tenantId: 'perday', day }]);
    }
    expect((await markedDays(conn.db)).filter((d) => d.tenant_id === 'perday')).toHaveLength(40);
    const ranges = await dueOf(conn.db, 'ranges');
    expect(ranges).toEqual(await dueOf(conn.db, 'perday'));
    expect(ranges).toEqual([
      '2026-10-10 catch-up',
      '2026-10-11 catch-up',
      ...dayRange('2026-10-20', '2026-11-25').map((d) => `${d} late-data`),
      '2026-11-26 catch-up',
      '2026-11-27 schedule',
    ]);

    // Re-billed: nothing is due any more, and the marks that can no longer make a day due go.
    await billAsOfNow(conn.db, 'ranges', ['2026-10-10', '2026-10-11', '2026-11-26', '2026-11-27']);
    await sql`UPDATE runs SET is_current = false WHERE tenant_id = 'ranges' AND day BETWEEN '2026-10-20' AND '2026-11-25'`.execute(
      conn.db,
    );
    await billAsOfNow(conn.db, 'ranges', dayRange('2026-10-20', '2026-11-25'));
    expect(await dueOf(conn.db, 'ranges')).toEqual([]);
    const before = await markRowCount(conn.db);
    expect(await pruneConsumedMarks(conn.db)).toBeGreaterThan(0);
    expect(await markRowCount(conn.db)).toBeLessThan(before);
    expect(await dueOf(conn.db, 'ranges')).toEqual([]);
    // `perday` is still due: pruning never drops a mark that makes a day due.
    expect((await dueOf(conn.db, 'perday')).length).toBe(ranges.length);
    // A late change after pruning is seen again.
    await bumpDayRevisions(conn.db, [{ tenantId: 'ranges', day: '2026-10-25' }]);
    expect(await dueOf(conn.db, 'ranges')).toEqual(['2026-10-25 late-data']);
  });

  it('days before the first price book are never planned nor counted as lag', async () => {
    // `acme` has a version from 2000-01-02 and the default book from 2000-01-01: every day is
    // plannable, but a page stays a page: its oldest days, in turn with the other tenants.
    const page = await findDueDays(conn.db, NOW, 30);
    expect(page).toHaveLength(30);
    const ofAcme = page.filter((d) => d.tenantId === 'acme').map((d) => d.day);
    expect(ofAcme.length).toBeGreaterThanOrEqual(10);
    expect(ofAcme).toEqual(dayRange('2000-01-02', addDays('2000-01-02', ofAcme.length - 1)));
    // A tenant with its own book only from 2026-11-20: its 2000s are not planned.
    await addTenant(conn.db, { id: 'late-book', name: 'x', timezone: 'Europe/Prague', currency: 'EUR' });
    await importVersions(conn.db, NOW, version('late-book', 'u1', '2026-11-20T10:00:00Z'));
    expect(await dueOf(conn.db, 'late-book')).toHaveLength(8);
    await importVersions(conn.db, NOW, version('late-book', 'old', '2000-01-02T12:00:00Z'));
    expect((await dueOf(conn.db, 'late-book'))[0]).toBe('2000-01-02 catch-up');
    await conn.db.deleteFrom('price_books').execute();
    await loadPriceBook(
      conn.db,
      { ...CLI_PRICE_BOOK, tenantId: 'late-book', validFrom: '2026-11-20' },
      'test',
    );
    expect(await dueOf(conn.db, 'late-book')).toEqual([
      ...dayRange('2026-11-20', '2026-11-26').map((d) => `${d} catch-up`),
      '2026-11-27 schedule',
    ]);
    const lag = new Map((await billingLag(conn.db, NOW)).map((l) => [l.tenantId, l.days]));
    expect(lag.get('late-book')).toBe(8);
    // Without any book that applies, nothing is planned.
    expect(await dueOf(conn.db, 'acme')).toEqual([]);
    expect(lag.has('acme')).toBe(false);
    await loadPriceBook(conn.db, { ...CLI_PRICE_BOOK, validFrom: '2000-01-01' }, 'test');
  });

  it('the lag computed in SQL equals the day-by-day computation', async () => {
    const first = '2026-11-01T10:00:00Z';
    for (const t of ['lag-a', 'lag-b', 'lag-c', 'lag-d', 'lag-e']) {
      await importVersions(conn.db, new Date(first), version(t, 'u1', first));
    }
    const all = dayRange('2026-11-01', '2026-11-27');
    await billAsOfNow(conn.db, 'lag-a', all); // up to date
    await billAsOfNow(conn.db, 'lag-b', all.slice(1)); // first day missing
    await billAsOfNow(conn.db, 'lag-c', all.slice(0, -1)); // only the latest missing
    await billAsOfNow(
      conn.db,
      'lag-d',
      all.filter((_, i) => i % 3 !== 1),
    ); // holes
    // lag-e: nothing billed at all
    for (const t of ['lag-a', 'lag-d']) await insertRun(conn.db, t, '2026-11-05', 0, false); // superseded: ignored
    const reference = await referenceLag(conn.db);
    const lag = new Map((await billingLag(conn.db, NOW)).map((l) => [l.tenantId, l.days]));
    expect(lag).toEqual(reference);
    expect([
      lag.get('lag-a'),
      lag.get('lag-b'),
      lag.get('lag-c'),
      lag.get('lag-d'),
      lag.get('lag-e'),
    ]).toEqual([0, 27, 1, 26, 27]);
  });
});

describe('migration 0004 turns per-day marks into ranges (embedded database)', () => {
  it('keeps every day at its revision, consecutive equal days as one range', async () => {
    const conn = await openEmbedded('memory://');
    try {
      const migrator = migratorFor(conn.db);
      expect((await migrator.migrateTo('0001_initial')).error).toBeUndefined();
      await sql`
        INSERT INTO day_revisions (tenant_id, day, revision) VALUES
          ('acme', '2026-11-01', 3), ('acme', '2026-11-02', 3), ('acme', '2026-11-03', 3),
          ('acme', '2026-11-04', 5), ('acme', '2026-11-05', 3), ('beta', '2026-11-01', 1)
      `.execute(conn.db);
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      expect(await markRowCount(conn.db)).toBe(4);
      expect(await markedDays(conn.db)).toEqual([
        { tenant_id: 'acme', day: '2026-11-01', revision: 3 },
        { tenant_id: 'acme', day: '2026-11-02', revision: 3 },
        { tenant_id: 'acme', day: '2026-11-03', revision: 3 },
        { tenant_id: 'acme', day: '2026-11-04', revision: 5 },
        { tenant_id: 'acme', day: '2026-11-05', revision: 3 },
        { tenant_id: 'beta', day: '2026-11-01', revision: 1 },
      ]);
      // The next mark of a tenant takes a revision above every migrated one.
      await bumpDayRevisions(conn.db, [{ tenantId: 'acme', day: '2026-11-01' }]);
      expect(await readDayRevision(conn.db, 'acme', '2026-11-01')).toBe(6);
      // And back down gives the per-day table again.
      expect((await migrator.migrateTo('0001_initial')).error).toBeUndefined();
      const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM day_revisions`.execute(
        conn.db,
      );
      expect(rows[0]?.n).toBe('6');
    } finally {
      await conn.close();
    }
  });
});
