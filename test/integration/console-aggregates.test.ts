import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m0007 from '../../migrations/0007_console_aggregates.ts';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { closePeriod } from '../../src/billing/close-period.service.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { diffRunLines } from '../../src/db/repositories/charge-line.repository.ts';
import { type LineKey, pageRunDiff } from '../../src/db/repositories/console-day.repository.ts';
import { countActiveUsers } from '../../src/db/repositories/day-activity-count.repository.ts';
import { pruneConsumedMarks } from '../../src/db/repositories/day-revision.repository.ts';
import type { AmountDiff } from '../../src/domain/adjustments.ts';
import { dayRange } from '../../src/domain/calendar.ts';
import { EventIngestor } from '../../src/ingest/event-ingest.service.ts';
import { parseLoginEvent } from '../../src/ingest/login-event.schema.ts';
import { BACKENDS } from '../support/backends.ts';
import { addVersions } from './bill-day-fixtures.ts';
import { NOW, seedBilledTenant } from './insight-fixtures.ts';

const T = 'agg';
const FROM = '2026-09-25';
const TO = '2026-11-14';

/** Logins of `userIds` on `day` (noon UTC), through the real ingest path. */
async function login(db: Db, day: string, userIds: readonly string[], tag: string): Promise<void> {
  await new EventIngestor(db, () => NOW).ingest(
    userIds.map((userId, i) => {
      const event = { eventId: `${tag}-${userId}-${i}`, tenantId: T, userId, occurredAt: `${day}T11:00:00Z` };
      return { raw: JSON.stringify(event), location: tag, parsed: parseLoginEvent(event) };
    }),
    { source: 'http' },
  );
}

/** Per day: active users recounted from `daily_activity`. */
async function recountActive(db: Db): Promise<Map<string, number>> {
  const { rows } = await sql<{ day: string; n: string }>`
    SELECT day, count(*)::text AS n FROM daily_activity WHERE tenant_id = ${T} GROUP BY day`.execute(db);
  return new Map(rows.map((r) => [r.day, Number(r.n)]));
}

/**
 * The aggregates against a recount from the base tables: every recorded count still in force
 * (revision >= the day's) equals the recount, `countActiveUsers` equals it on every day, and
 * every charge run's sums by item equal its lines. Returns the days whose count is in force.
 */
async function expectAggregatesTrue(db: Db): Promise<string[]> {
  const recount = await recountActive(db);
  const { rows: counts } = await sql<{ day: string; active_users: number; fresh: boolean }>`
    SELECT c.day, c.active_users,
           c.revision >= coalesce((SELECT max(m.revision) FROM day_marks m
                                   WHERE m.tenant_id = c.tenant_id AND c.day BETWEEN m.from_day AND m.to_day), 0) AS fresh
    FROM day_activity_counts c WHERE c.tenant_id = ${T} ORDER BY c.day`.execute(db);
  const fresh = counts.filter((c) => c.fresh);
  for (const c of fresh) expect([c.day, c.active_users]).toEqual([c.day, recount.get(c.day) ?? 0]);
  const read = new Map(
    (await countActiveUsers(db, { tenantIds: [T], from: FROM, to: TO })).map((r) => [r.day, r.users]),
  );
  for (const day of dayRange(FROM, TO))
    expect([day, read.get(day) ?? 0]).toEqual([day, recount.get(day) ?? 0]);
  const sums = async (source: 'totals' | 'lines') =>
    (
      await sql<{ run_id: string; item: string; billing: string; lines: string; amount: string }>`
        ${
          source === 'totals'
            ? sql`SELECT t.run_id::text, t.item, t.billing, t.lines::text, t.amount::text
                  FROM console_run_totals t JOIN runs r ON r.id = t.run_id WHERE r.tenant_id = ${T}`
            : sql`SELECT l.run_id::text, l.item, l.billing, count(*)::text AS lines, sum(l.amount)::text AS amount
                  FROM charge_lines l JOIN runs r ON r.id = l.run_id WHERE r.tenant_id = ${T}
                  GROUP BY l.run_id, l.item, l.billing`
        }
        ORDER BY 1, 2, 3`.execute(db)
    ).rows;
  expect(await sums('totals')).toEqual(await sums('lines'));
  return fresh.map((c) => c.day);
}

describe.each(BACKENDS)('console aggregates equal a recount on $name', ({ open }) => {
  let conn: DatabaseConnection;
  let users: string[];
  beforeAll(async () => {
    conn = await open();
    users = await seedBilledTenant(conn.db, T, { users: 24, seed: 5, billTo: '2026-10-31' });
  }, 240_000);
  afterAll(async () => conn?.close());

  it('after ingest and billing: every billed day has its count in force', async () => {
    const fresh = await expectAggregatesTrue(conn.db);
    expect(fresh).toEqual(dayRange('2026-10-01', '2026-10-31'));
    // The unbilled days (logins up to 14 November) are counted from the activity itself.
    expect((await recountActive(conn.db)).get('2026-11-05')).toBeGreaterThan(0);
  });

  it('after late activity (the count goes out of force) and a replay (in force again)', async () => {
    await login(conn.db, '2026-10-10', ['late-1', 'late-2', users[0] as string], 'late');
    expect(await expectAggregatesTrue(conn.db)).not.toContain('2026-10-10');
    await billDay(conn.db, { tenantId: T, day: '2026-10-10', trigger: 'replay', now: NOW });
    expect(await expectAggregatesTrue(conn.db)).toContain('2026-10-10');
  });

  it('after pruning the marks the runs consumed', async () => {
    await login(conn.db, '2026-10-11', ['late-3'], 'late-b');
    expect(await pruneConsumedMarks(conn.db)).toBeGreaterThan(0);
    const fresh = await expectAggregatesTrue(conn.db);
    expect(fresh).not.toContain('2026-10-11'); // its mark is not consumed: no run read it
    expect(fresh).toContain('2026-10-10');
  });

  it('after closing the month and billing late data as adjustments', async () => {
    await closePeriod(conn.db, { tenantId: T, month: '2026-10', now: NOW });
    await login(conn.db, '2026-10-12', ['late-4'], 'late-c');
    for (const day of ['2026-10-11', '2026-10-12']) {
      const outcome = await billDay(conn.db, { tenantId: T, day, trigger: 'late-data', now: NOW });
      expect(outcome.status).toBe('adjusted');
    }
    await pruneConsumedMarks(conn.db);
    const fresh = await expectAggregatesTrue(conn.db);
    expect(fresh).toEqual(expect.arrayContaining(['2026-10-11', '2026-10-12']));
  });

  it('migration 0007 backfills the same aggregates from the base tables', async () => {
    await sql`DELETE FROM console_run_totals`.execute(conn.db);
    await m0007.down(conn.db as never);
    await m0007.up(conn.db as never);
    const fresh = await expectAggregatesTrue(conn.db);
    expect(fresh).toEqual(expect.arrayContaining(dayRange('2026-10-01', '2026-10-31')));
  });

  it('the run diff, page by page with a bounded budget of lines, is the whole diff', async () => {
    const day = '2026-11-03';
    await billDay(conn.db, { tenantId: T, day, trigger: 'manual', now: NOW });
    // Every third user changes license and billing mode from that day (two rows for one item
    // when only the billing mode changes), and a few new users log in.
    await addVersions(
      conn.db,
      T,
      users
        .filter((_, i) => i % 3 === 0)
        .map((userId, i) => ({
          userId,
          at: '2026-11-02T23:30:00Z',
          license: i % 2 === 0 ? ('enterprise' as const) : ('professional' as const),
          billing: i % 2 === 0 ? ('daily' as const) : ('monthly' as const),
        })),
    );
    await login(conn.db, day, users, 'again');
    await billDay(conn.db, { tenantId: T, day, trigger: 'replay', now: NOW });
    const { rows } = await sql<{ id: string }>`
      SELECT id::text FROM runs WHERE tenant_id = ${T} AND day = ${day}::date AND kind = 'charge' ORDER BY id`.execute(
      conn.db,
    );
    const [before, after] = rows.map((r) => r.id) as [string, string];
    const whole = await diffRunLines(conn.db, before, after, null);
    expect(whole.length).toBeGreaterThan(5);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 21 }),
        fc.integer({ min: 1, max: 5 }),
        async (budget, limit) => {
          const seen: AmountDiff[] = [];
          let at: LineKey | undefined;
          for (let pages = 0; pages < 500; pages++) {
            const page = await pageRunDiff(conn.db, {
              beforeRunId: before,
              afterRunId: after,
              after: at,
              limit,
              budget,
            });
            seen.push(...page.rows);
            if (page.next === null) break;
            at = page.next;
          }
          expect(seen).toEqual(whole);
        },
      ),
      { numRuns: 12, seed: 7 },
    );
  }, 120_000);
});
