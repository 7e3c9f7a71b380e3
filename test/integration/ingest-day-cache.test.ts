import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dayBounds, dayOf } from '../../src/domain/calendar.ts';
import { TenantDayCache } from '../../src/ingest/tenant-day-cache.ts';
import { AWKWARD_ZONES } from '../support/zones.ts';

// and a quarter-hour offset, and two zones that skipped a whole day
const ZONES = [...AWKWARD_ZONES, 'Asia/Kathmandu', 'Pacific/Apia', 'Pacific/Kiritimati'];

describe('TenantDayCache', () => {
  it('agrees with calendar.dayOf for any instant (2000–2040) in zones with DST, half and quarter hours', () => {
    const cache = new TenantDayCache();
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }),
        fc.constantFrom(...ZONES),
        (ms, zone) => {
          expect(cache.dayOf(ms, zone)).toBe(dayOf(new Date(ms), zone));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('is exact at the first and last millisecond of 23 h, 25 h and half-hour-zone days', () => {
    const cache = new TenantDayCache();
    for (const [day, zone] of [
      ['2026-03-29', 'Europe/Prague'],
      ['2026-10-25', 'Europe/Prague'],
      ['2026-06-15', 'Asia/Kolkata'],
      ['2026-03-08', 'America/Havana'],
      ['2011-12-31', 'Pacific/Apia'],
    ] as const) {
      const { start, end } = dayBounds(day, zone);
      for (const ms of [start.getTime(), end.getTime() - 1]) {
        expect(cache.dayOf(ms, zone)).toBe(dayOf(new Date(ms), zone));
      }
      expect(cache.dayOf(start.getTime() - 1, zone)).not.toBe(day);
      expect(cache.dayOf(end.getTime(), zone)).not.toBe(day);
    }
  });
});
