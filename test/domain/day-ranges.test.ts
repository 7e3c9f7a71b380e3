import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, dayOf, dayRange } from '../../src/domain/calendar.ts';
import {
  daysToRanges,
  mergeDayRanges,
  spansToDayRanges,
  type TenantDayRange,
  type TenantInstantSpan,
} from '../../src/domain/day-ranges.ts';

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

describe('spansToDayRanges', () => {
  const zones = { a: 'Europe/Prague', b: 'America/St_Johns', c: 'Pacific/Apia' } as const;
  const base = Date.UTC(2011, 11, 25);
  const span = fc
    .record({
      tenantId: fc.constantFrom('a', 'b', 'c'),
      fromMs: fc.integer({ min: base - 40 * 86_400_000, max: base + 40 * 86_400_000 }),
      lengthMs: fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer({ min: 0, max: 20 * 86_400_000 })),
    })
    .map(
      ({ tenantId, fromMs, lengthMs }): TenantInstantSpan => ({
        tenantId,
        zone: zones[tenantId as keyof typeof zones],
        fromMs,
        toMs: fromMs + lengthMs,
      }),
    );
  const onePerSpan = (spans: readonly TenantInstantSpan[]) =>
    mergeDayRanges(
      spans
        .filter((s) => s.fromMs <= s.toMs)
        .map((s) => ({
          tenantId: s.tenantId,
          from: dayOf(new Date(s.fromMs), s.zone),
          to: dayOf(new Date(s.toMs), s.zone),
        })),
    );

  it('marks the same days as converting every span on its own (DST and Samoa 2011 included)', () => {
    fc.assert(
      fc.property(fc.array(span, { maxLength: 40 }), (spans) => {
        expect(spansToDayRanges(spans)).toEqual(onePerSpan(spans));
      }),
      { numRuns: 300 },
    );
  });

  it('joins spans that touch to the millisecond, keeps a gap of one', () => {
    const s = (fromMs: number, toMs: number): TenantInstantSpan => ({
      tenantId: 'a',
      zone: 'UTC',
      fromMs,
      toMs,
    });
    const d0 = Date.UTC(2026, 0, 1);
    const day = 86_400_000;
    expect(spansToDayRanges([s(d0, d0 + day - 1), s(d0 + day, d0 + day)])).toEqual([
      r('a', '2026-01-01', '2026-01-02'),
    ]);
    expect(spansToDayRanges([s(d0, d0 + 1), s(d0 + 3 * day, d0 + 3 * day), s(d0 + 5, d0 + 4)])).toEqual([
      r('a', '2026-01-01', '2026-01-01'),
      r('a', '2026-01-04', '2026-01-04'),
    ]);
  });

  it('converts a run of overlapping ten-year stretches twice, not twice per stretch', () => {
    const day = 86_400_000;
    const now = Date.UTC(2026, 10, 30);
    const spans = Array.from(
      { length: 10_000 },
      (_, i): TenantInstantSpan => ({
        tenantId: 'a',
        zone: 'Europe/Prague',
        fromMs: now - 3652 * day - i * 1000,
        toMs: now - 61 * day - i * 1000,
      }),
    );
    const created: unknown[] = [];
    const Original = Intl.DateTimeFormat;
    const Counting = function (this: unknown, ...args: ConstructorParameters<typeof Intl.DateTimeFormat>) {
      created.push(args);
      return new Original(...args);
    } as unknown as typeof Intl.DateTimeFormat;
    Counting.supportedLocalesOf = Original.supportedLocalesOf;
    Intl.DateTimeFormat = Counting;
    try {
      expect(spansToDayRanges(spans)).toEqual([r('a', '2016-11-29', '2026-09-30')]);
    } finally {
      Intl.DateTimeFormat = Original;
    }
    expect(created.length).toBeLessThan(10);
  });
});
