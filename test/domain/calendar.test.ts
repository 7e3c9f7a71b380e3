import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  addDays,
  billableAt,
  dayBounds,
  dayOf,
  dayOfMonth,
  dayRange,
  daysInMonth,
  isValidDay,
  isValidMonth,
  isValidTimeZone,
  latestBillableDay,
  monthBounds,
  monthDays,
  monthOf,
} from '../../src/domain/calendar.ts';
import { itReturns } from '../support/table.ts';
import { AWKWARD_ZONES } from '../support/zones.ts';

const HOUR = 3_600_000;
const hoursOf = (b: { start: Date; end: Date }): number => (b.end.getTime() - b.start.getTime()) / HOUR;

describe('dayBounds', () => {
  it.each([
    // zone, day, start (UTC), end (UTC), hours
    ['Europe/Prague', '2026-03-10', '2026-03-09T23:00:00.000Z', '2026-03-10T23:00:00.000Z', 24],
    ['Europe/Prague', '2026-03-29', '2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z', 23],
    ['Europe/Prague', '2026-10-25', '2026-10-24T22:00:00.000Z', '2026-10-25T23:00:00.000Z', 25],
    // southern hemisphere: clocks go back in April, forward in October
    ['Australia/Sydney', '2026-04-05', '2026-04-04T13:00:00.000Z', '2026-04-05T14:00:00.000Z', 25],
    ['Australia/Sydney', '2026-10-04', '2026-10-03T14:00:00.000Z', '2026-10-04T13:00:00.000Z', 23],
    // midnight does not exist (00:00 -> 01:00): the day starts at the first instant after the gap
    ['America/Havana', '2026-03-08', '2026-03-08T05:00:00.000Z', '2026-03-09T04:00:00.000Z', 23],
    ['America/Havana', '2026-03-07', '2026-03-07T05:00:00.000Z', '2026-03-08T05:00:00.000Z', 24],
    ['America/Santiago', '2026-09-06', '2026-09-06T04:00:00.000Z', '2026-09-07T03:00:00.000Z', 23],
    ['Asia/Beirut', '2026-03-29', '2026-03-28T22:00:00.000Z', '2026-03-29T21:00:00.000Z', 23],
    // midnight happens twice (01:00 -> 00:00): the day starts at its first occurrence
    ['America/Havana', '2026-11-01', '2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z', 25],
    ['America/Havana', '2026-10-31', '2026-10-31T04:00:00.000Z', '2026-11-01T04:00:00.000Z', 24],
    // Santiago falls back at 24:00 -> 23:00: the day before is the long one
    ['America/Santiago', '2026-04-04', '2026-04-04T03:00:00.000Z', '2026-04-05T04:00:00.000Z', 25],
    ['Asia/Kolkata', '2026-01-15', '2026-01-14T18:30:00.000Z', '2026-01-15T18:30:00.000Z', 24],
    ['Australia/Lord_Howe', '2026-10-04', '2026-10-03T13:30:00.000Z', '2026-10-04T13:00:00.000Z', 23.5],
    ['UTC', '2028-02-29', '2028-02-29T00:00:00.000Z', '2028-03-01T00:00:00.000Z', 24],
    // Samoa skipped 2011-12-30 entirely: an empty day where 12-29 ends and 12-31 begins
    ['Pacific/Apia', '2011-12-30', '2011-12-30T10:00:00.000Z', '2011-12-30T10:00:00.000Z', 0],
  ])('%s %s is [%s, %s), %d h', (zone, day, start, end, hours) => {
    const b = dayBounds(day, zone);
    expect(b.start.toISOString()).toBe(start);
    expect(b.end.toISOString()).toBe(end);
    expect(hoursOf(b)).toBe(hours);
  });

  it('rejects bad days and zones, naming the value', () => {
    expect(() => dayBounds('2026-02-30', 'Europe/Prague')).toThrow(/2026-02-30/);
    expect(() => dayBounds('2026-03-01', 'Mars/Olympus')).toThrow(/Mars\/Olympus/);
    expect(() => dayBounds('2026-03-01', '+01:00')).toThrow(/\+01:00/);
  });
});

// and DST in the southern hemisphere, changes at 24:00 and at midnight
const ZONES = [...AWKWARD_ZONES, 'Australia/Sydney', 'America/Santiago', 'Asia/Beirut'];

describe('days tile time', () => {
  it('every instant lies in the bounds of its own day, and consecutive days are adjacent', () => {
    const instant = fc
      .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) })
      .map((ms) => new Date(ms));
    fc.assert(
      fc.property(instant, fc.constantFrom(...ZONES), (at, zone) => {
        const day = dayOf(at, zone);
        const b = dayBounds(day, zone);
        expect(b.start.getTime()).toBeLessThanOrEqual(at.getTime());
        expect(at.getTime()).toBeLessThan(b.end.getTime());
        expect(dayBounds(addDays(day, 1), zone).start.getTime()).toBe(b.end.getTime());
      }),
      { numRuns: 500 },
    );
  });
});

describe('dayOf', () => {
  itReturns('%s in %s is %s', (iso: string, zone: string) => dayOf(new Date(iso), zone), [
    ['2026-03-28T22:59:59.999Z', 'Europe/Prague', '2026-03-28'],
    ['2026-03-28T23:00:00.000Z', 'Europe/Prague', '2026-03-29'],
    ['2026-01-14T18:29:59.999Z', 'Asia/Kolkata', '2026-01-14'],
    ['2026-01-14T18:30:00.000Z', 'Asia/Kolkata', '2026-01-15'],
    ['2026-04-04T13:00:00.000Z', 'Australia/Sydney', '2026-04-05'],
    // first pass through the repeated hour of 2026-11-01 in Havana
    ['2026-11-01T04:30:00.000Z', 'America/Havana', '2026-11-01'],
    ['2011-12-30T10:00:00.000Z', 'Pacific/Apia', '2011-12-31'],
    // St John's fell back at 00:01 NDT to 23:01 NST: the 29th began at 02:30Z, and the hour in
    // which the clock shows the 28th again still belongs to the 29th
    ['2000-10-29T02:29:59.999Z', 'America/St_Johns', '2000-10-28'],
    ['2000-10-29T02:30:00.000Z', 'America/St_Johns', '2000-10-29'],
    ['2000-10-29T02:31:00.000Z', 'America/St_Johns', '2000-10-29'],
    ['2000-10-29T03:29:59.999Z', 'America/St_Johns', '2000-10-29'],
  ]);

  it('rejects an invalid Date', () => {
    expect(() => dayOf(new Date('nope'), 'UTC')).toThrow(/Invalid Date/);
  });

  it('builds no time-zone formatter per call (each holds memory outside the heap until a late GC)', () => {
    const created: unknown[] = [];
    const Original = Intl.DateTimeFormat;
    const Counting = ((...args: ConstructorParameters<typeof Intl.DateTimeFormat>) => {
      created.push(args);
      return new Original(...args);
    }) as unknown as typeof Intl.DateTimeFormat;
    Counting.supportedLocalesOf = Original.supportedLocalesOf;
    Intl.DateTimeFormat = Counting;
    const t0 = Date.UTC(2016, 0, 1);
    const days = new Set<string>();
    try {
      for (let i = 0; i < 1000; i++) days.add(dayOf(new Date(t0 + i * 86_400_000), 'Europe/Prague'));
    } finally {
      Intl.DateTimeFormat = Original;
    }
    expect(days.size).toBe(1000);
    expect(created.length).toBeLessThan(10);
  });
});

describe('billableAt', () => {
  itReturns(
    '%s day %s with cut-off %d is billable at %s',
    (zone: string, day: string, cutoff: number) => billableAt(day, zone, cutoff).toISOString(),
    [
      ['Europe/Prague', '2026-03-27', 2, '2026-03-28T01:00:00.000Z'],
      // 02:00 on 03-29 does not exist: the clock jumps to 03:00 CEST
      ['Europe/Prague', '2026-03-28', 2, '2026-03-29T01:00:00.000Z'],
      ['Europe/Prague', '2026-03-28', 3, '2026-03-29T01:00:00.000Z'],
      // 02:00 on 10-25 happens twice: the clock first reaches it in CEST
      ['Europe/Prague', '2026-10-24', 2, '2026-10-25T00:00:00.000Z'],
      ['Europe/Prague', '2026-10-25', 2, '2026-10-26T01:00:00.000Z'],
      ['Australia/Sydney', '2026-10-03', 2, '2026-10-03T16:00:00.000Z'],
      ['Australia/Sydney', '2026-04-04', 2, '2026-04-04T15:00:00.000Z'],
      ['America/Havana', '2026-03-07', 0, '2026-03-08T05:00:00.000Z'],
      ['Australia/Lord_Howe', '2026-10-03', 2, '2026-10-03T15:30:00.000Z'],
      ['Asia/Kolkata', '2026-01-14', 2, '2026-01-14T20:30:00.000Z'],
      ['UTC', '2026-12-31', 23, '2027-01-01T23:00:00.000Z'],
    ],
  );

  it.each([24, -1, 1.5, Number.NaN])('rejects cut-off hour %s', (cutoff) => {
    expect(() => billableAt('2026-01-01', 'UTC', cutoff)).toThrow(/cutoff hour/);
  });
});

describe('latestBillableDay', () => {
  itReturns(
    'at %s in %s (cut-off %d) the latest billable day is %s',
    (now: string, zone: string, cutoff: number) => latestBillableDay(new Date(now), zone, cutoff),
    [
      ['2026-03-29T00:59:59.999Z', 'Europe/Prague', 2, '2026-03-27'],
      ['2026-03-29T01:00:00.000Z', 'Europe/Prague', 2, '2026-03-28'],
      ['2026-01-15T00:59:00.000Z', 'Europe/Prague', 2, '2026-01-13'],
      ['2026-01-15T01:00:00.000Z', 'Europe/Prague', 2, '2026-01-14'],
      ['2026-01-14T18:30:00.000Z', 'Asia/Kolkata', 0, '2026-01-14'],
      ['2026-01-14T18:29:59.999Z', 'Asia/Kolkata', 0, '2026-01-13'],
    ],
  );

  it('returns D with billableAt(D) <= now < billableAt(D + 1)', () => {
    const instant = fc
      .integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) })
      .map((ms) => new Date(ms));
    fc.assert(
      fc.property(
        instant,
        fc.constantFrom(...ZONES),
        fc.integer({ min: 0, max: 23 }),
        (now, zone, cutoff) => {
          const day = latestBillableDay(now, zone, cutoff);
          expect(billableAt(day, zone, cutoff).getTime()).toBeLessThanOrEqual(now.getTime());
          expect(billableAt(addDays(day, 1), zone, cutoff).getTime()).toBeGreaterThan(now.getTime());
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('day arithmetic', () => {
  itReturns('%s is in a %d-day month', daysInMonth, [
    ['2026-02-10', 28],
    ['2028-02-10', 29],
    ['2000-02-01', 29],
    ['2100-02-01', 28],
    ['2026-04-30', 30],
    ['2026-12-31', 31],
  ]);

  itReturns('addDays(%s, %d) is %s', addDays, [
    ['2026-12-31', 1, '2027-01-01'],
    ['2028-02-28', 1, '2028-02-29'],
    ['2028-03-01', -1, '2028-02-29'],
    ['2026-03-01', -1, '2026-02-28'],
    ['2026-01-31', 30, '2026-03-02'],
    ['2026-03-29', 0, '2026-03-29'],
    ['0001-01-02', -1, '0001-01-01'],
    ['2026-06-15', 365, '2027-06-15'],
  ]);

  it('day of month and month of a day', () => {
    expect(dayOfMonth('2026-03-29')).toBe(29);
    expect(dayOfMonth('2026-03-01')).toBe(1);
    expect(monthOf('2026-03-29')).toBe('2026-03');
  });

  it('monthDays lists every day of the month in order', () => {
    const feb = monthDays('2028-02');
    expect(feb).toHaveLength(29);
    expect(feb[0]).toBe('2028-02-01');
    expect(feb[28]).toBe('2028-02-29');
    expect(monthDays('2026-02')).toHaveLength(28);
    expect(monthDays('2026-12').at(-1)).toBe('2026-12-31');
  });

  it('dayRange is inclusive and empty when inverted', () => {
    expect(dayRange('2026-02-27', '2026-03-02')).toEqual([
      '2026-02-27',
      '2026-02-28',
      '2026-03-01',
      '2026-03-02',
    ]);
    expect(dayRange('2026-03-02', '2026-03-02')).toEqual(['2026-03-02']);
    expect(dayRange('2026-03-03', '2026-03-02')).toEqual([]);
  });

  it('monthBounds spans local midnights, across DST', () => {
    const b = monthBounds('2026-03', 'Europe/Prague');
    expect(b.start.toISOString()).toBe('2026-02-28T23:00:00.000Z');
    expect(b.end.toISOString()).toBe('2026-03-31T22:00:00.000Z');
    expect(hoursOf(b)).toBe(31 * 24 - 1);
  });

  it('rejects malformed input, naming it', () => {
    expect(() => addDays('2026-1-01', 1)).toThrow(/2026-1-01/);
    expect(() => addDays('2026-01-01', 0.5)).toThrow(/0.5/);
    expect(() => monthDays('2026-13')).toThrow(/2026-13/);
    expect(() => dayRange('2026-01-01', 'tomorrow')).toThrow(/tomorrow/);
  });
});

describe('validators', () => {
  itReturns('isValidDay(%j) is %s', isValidDay, [
    ['2026-02-28', true],
    ['2028-02-29', true],
    ['2026-02-29', false],
    ['2100-02-29', false],
    ['2026-13-01', false],
    ['2026-00-10', false],
    ['2026-04-31', false],
    ['2026-1-01', false],
    ['2026-01-01T00:00', false],
    ['0000-01-01', false],
    ['', false],
  ]);

  itReturns('isValidMonth(%j) is %s', isValidMonth, [
    ['2026-01', true],
    ['2026-12', true],
    ['2026-13', false],
    ['2026-00', false],
    ['2026-1', false],
    ['2026-01-01', false],
  ]);

  itReturns('isValidTimeZone(%j) is %s', isValidTimeZone, [
    ['Europe/Prague', true],
    ['Asia/Kolkata', true],
    ['UTC', true],
    ['Mars/Olympus', false],
    ['+01:00', false],
    ['', false],
  ]);
});

describe('dayOf: the local date from the kept offsets equals luxon’s', () => {
  it('every 37 minutes over two years in zones with DST, half hours, a date-line jump and a midnight fall-back', () => {
    const zones = [
      'Europe/Prague',
      'America/New_York',
      'Australia/Lord_Howe',
      'Asia/Kolkata',
      'Pacific/Apia',
      'America/St_Johns',
    ];
    let checked = 0;
    for (const zone of zones) {
      for (let ms = Date.UTC(2010, 0, 1); ms < Date.UTC(2012, 0, 1); ms += 37 * 60_000) {
        const luxonDay = DateTime.fromMillis(ms, { zone }).toISODate() as string;
        const day = dayOf(new Date(ms), zone);
        // dayOf moves an instant to the next day only in a fall-back hour across midnight.
        if (day !== luxonDay) {
          expect(day).toBe(addDays(luxonDay, 1));
          expect(dayBounds(day, zone).start.getTime()).toBeLessThanOrEqual(ms);
        } else checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(6 * 27_000);
    // ~2.2 s alone (160,000 luxon conversions); over vitest's 5 s default on a loaded machine.
  }, 30_000);
});
