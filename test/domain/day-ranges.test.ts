import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, dayRange } from '../../src/domain/calendar.ts';
import { daysToRanges, mergeDayRanges, type TenantDayRange } from '../../src/domain/day-ranges.ts';

const r = (tenantId: string, from: string, to: string): TenantDayRange => ({ tenantId, from, to });

describe('mergeDayRanges', () => {
  it.each([
    [
      'overlapping',
      [r('a', '2026-11-01', '2026-11-10'), r('a', '2026-11-05', '2026-11-20')],
      [r('a', '2026-11-01', '2026-11-20')],
    ],
    [
      'adjacent',
      [r('a', '2026-11-01', '2026-11-30'), r('a', '2026-12-01', '2026-12-01')],
      [r('a', '2026-11-01', '2026-12-01')],
    ],
    [
      'a gap of one day stays a gap',
      [r('a', '2026-11-01', '2026-11-01'), r('a', '2026-11-03', '2026-11-03')],
      [r('a', '2026-11-01', '2026-11-01'), r('a', '2026-11-03', '2026-11-03')],
    ],
    [
      'contained',
      [r('a', '2016-11-27', '2026-11-27'), r('a', '2026-11-27', '2026-11-27')],
      [r('a', '2016-11-27', '2026-11-27')],
    ],
    [
      'per tenant, tenants in code-point order',
      [r('b', '2026-11-01', '2026-11-02'), r('a', '2026-11-02', '2026-11-03')],
      [r('a', '2026-11-02', '2026-11-03'), r('b', '2026-11-01', '2026-11-02')],
    ],
    [
      'across a year end and a leap day',
      [r('a', '2027-12-31', '2028-02-28'), r('a', '2028-02-29', '2028-03-01')],
      [r('a', '2027-12-31', '2028-03-01')],
    ],
  ])('%s', (_name, input, expected) => {
    expect(mergeDayRanges(input)).toEqual(expected);
  });

  it('covers exactly the days of its input, in the fewest disjoint ranges', () => {
    const day = fc.integer({ min: 0, max: 60 }).map((n) => addDays('2026-10-01', n));
    const range = fc
      .tuple(fc.constantFrom('a', 'b'), day, fc.integer({ min: 0, max: 5 }))
      .map(([t, from, len]) => r(t, from, addDays(from, len)));
    fc.assert(
      fc.property(fc.array(range, { maxLength: 20 }), (ranges) => {
        const days = (rs: TenantDayRange[]) =>
          [...new Set(rs.flatMap((x) => dayRange(x.from, x.to).map((d) => `${x.tenantId} ${d}`)))].sort();
        const merged = mergeDayRanges(ranges);
        expect(days(merged)).toEqual(days(ranges));
        // Disjoint and not adjacent: no two ranges of a tenant could be merged further.
        for (let i = 1; i < merged.length; i++) {
          const [p, c] = [merged[i - 1] as TenantDayRange, merged[i] as TenantDayRange];
          if (p.tenantId === c.tenantId) expect(addDays(p.to, 1) < c.from).toBe(true);
        }
      }),
    );
  });

  it('turns consecutive single days into one range', () => {
    const days = dayRange('2026-11-01', '2026-11-30').map((day) => ({ tenantId: 'a', day }));
    expect(daysToRanges(days)).toEqual([r('a', '2026-11-01', '2026-11-30')]);
  });
});
