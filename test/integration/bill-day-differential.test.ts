/**
 * Differential property test: the set-based SQL of billDay against the pure domain
 * (daySnapshot + chargeLinesForDay), on real PostgreSQL, for random versions and activity.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { type Day, dayBounds } from '../../src/domain/calendar.ts';
import { chargeLinesForDay } from '../../src/domain/charge-lines.ts';
import { daySnapshot } from '../../src/domain/day-snapshot.ts';
import type { PriceBook } from '../../src/domain/price-book.ts';
import { suiteDatabase } from '../support/test-database.ts';
import {
  addActivity,
  addVersions,
  BOOK,
  currentLines,
  LICENSE_SETTINGS,
  type LicenseName,
  parseVersionSpec,
  seedTenant,
  type VersionSpec,
} from './bill-day-fixtures.ts';

const ZONES = ['Europe/Prague', 'Australia/Sydney', 'America/New_York', 'Asia/Kolkata', 'UTC'];
const DAYS: Day[] = [
  '2026-03-08',
  '2026-03-29',
  '2026-04-05',
  '2026-10-04',
  '2026-10-25',
  '2026-11-01',
  '2026-02-28',
  '2028-02-29',
];
const LICENSES = Object.keys(LICENSE_SETTINGS) as LicenseName[];
const NOW = new Date('2030-01-01T00:00:00Z');

const versionArb = fc.record({
  // Minutes from 36 h before the day's start to 36 h after it (before, inside and after the day),
  // or within a millisecond or a minute of the day's start or end, where the boundary rules bite.
  at: fc.oneof(
    fc.record({
      anchor: fc.constant('start' as const),
      ms: fc.integer({ min: -36 * 60, max: 36 * 60 }).map((m) => m * 60_000),
    }),
    fc.record({
      anchor: fc.constantFrom('start' as const, 'end' as const),
      ms: fc.constantFrom(-60_000, -1, 0, 1, 60_000),
    }),
  ),
  license: fc.constantFrom(...LICENSES),
  billing: fc.constantFrom('monthly' as const, 'daily' as const),
  recordCalls: fc.boolean(),
  active: fc.boolean(),
});
const userArb = fc.record({
  versions: fc.array(versionArb, { minLength: 0, maxLength: 4 }),
  loggedIn: fc.boolean(),
});
const caseArb = fc.record({
  zone: fc.constantFrom(...ZONES),
  day: fc.constantFrom(...DAYS),
  users: fc.array(userArb, { minLength: 1, maxLength: 5 }),
});

describe('day snapshot and charge lines: the SQL twin (day-lines.repository) equals the domain reference', () => {
  const conn = suiteDatabase();
  let n = 0;

  it('for random versions, activity, zones and days, every line is the same', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ zone, day, users }) => {
        const tenantId = `t${++n}`;
        await seedTenant(conn.db, { id: tenantId, timezone: zone });
        const bounds = dayBounds(day, zone);
        const specs: VersionSpec[] = [];
        users.forEach((u, i) => {
          const seen = new Set<number>();
          for (const v of u.versions) {
            const ms = (v.at.anchor === 'start' ? bounds.start : bounds.end).getTime() + v.at.ms;
            if (seen.has(ms)) continue; // one version per instant (the key)
            seen.add(ms);
            const at = new Date(ms).toISOString();
            specs.push({
              userId: `u${i}`,
              at,
              license: v.license,
              billing: v.billing,
              recordCalls: v.recordCalls,
              active: v.active,
            });
          }
        });
        if (specs.length > 0) await addVersions(conn.db, tenantId, specs);
        const active = users.flatMap((u, i) => (u.loggedIn ? [`u${i}`] : []));
        await addActivity(conn.db, tenantId, day, active);

        const book: PriceBook = { id: 'x', tenantId, currency: 'EUR', validFrom: '2000-01-01', ...BOOK };
        const expected = users.flatMap((_, i) => {
          const versions = specs
            .filter((s) => s.userId === `u${i}`)
            .map((s) => {
              const v = parseVersionSpec(tenantId, s);
              return {
                effectiveAt: v.effectiveAt,
                active: v.active,
                license: v.result.license,
                billing: v.result.billing,
                recordCalls: v.recordCalls,
              };
            });
          const snapshot = daySnapshot(versions, bounds);
          return chargeLinesForDay({
            day,
            snapshot,
            active: active.includes(`u${i}`),
            prices: book,
            currency: 'EUR',
          }).map((l) => ({
            userId: `u${i}`,
            item: l.item,
            billing: l.billing,
            amount: l.amount,
            unitPrice: l.unitPrice,
          }));
        });
        const outcome = await billDay(conn.db, { tenantId, day, trigger: 'manual', now: NOW });
        const actual = await currentLines(conn.db, tenantId, day);
        const byKey = (a: { userId: string; item: string }, b: { userId: string; item: string }) =>
          a.userId === b.userId ? (a.item < b.item ? -1 : 1) : a.userId < b.userId ? -1 : 1;
        if (specs.length === 0) expect(outcome.status).toBe('skipped');
        expect(actual).toEqual(expected.sort(byKey));
      }),
      { numRuns: 60 },
    );
  });
});
