import { describe, expect, it } from 'vitest';
import { type DayFacts, type DayStatus, detectAnomalies } from '../../src/domain/anomalies.ts';
import { addDays } from '../../src/domain/calendar.ts';
import { rejectDay } from '../../src/domain/reject-attribution.ts';
import { projectMonthTotal } from '../../src/domain/usage-projection.ts';
import { itReturns } from '../support/table.ts';

const OPTS = { jump: 0.3, currency: 'EUR' };

/** Consecutive days from 2026-10-01 with the given totals (null: no run) and active users. */
function days(specs: Array<Partial<DayFacts> & { total?: number | null }>): DayFacts[] {
  return specs.map((s, i) => ({
    day: addDays('2026-10-01', i),
    status: (s.status ?? (s.total === null ? 'missing' : 'billed')) as DayStatus,
    total: s.total === undefined ? 100 : s.total,
    activeUsers: s.activeUsers ?? 5,
    rejectsOpen: s.rejectsOpen ?? 0,
  }));
}
const codesOf = (facts: DayFacts[], options = OPTS) =>
  detectAnomalies(facts, options).map((a) => a.map((x) => x.code));
const seven = Array.from({ length: 7 }, () => ({ total: 100 }));

describe('detectAnomalies', () => {
  it.each([
    { total: 131, jump: true, why: '+31 % is above 30 %' },
    { total: 130, jump: false, why: 'exactly 30 % is not more than 30 %' },
    { total: 69, jump: true, why: '-31 %' },
    { total: 70, jump: false, why: '-30 %' },
    { total: 100, jump: false, why: 'equal' },
  ])('total-jump: $total after seven days of 100 ($why)', ({ total, jump }) => {
    const codes = codesOf(days([...seven, { total }]));
    expect(codes[7]?.includes('total-jump')).toBe(jump);
    expect(codes.slice(0, 7).flat()).toEqual([]);
  });

  it('total-jump uses the median of the previous 7 billed days, skipping days without a run', () => {
    // Billed totals 10, 100, 100, 1000, 100, (no run), 100, 100 -> median of the last 7 billed is 100.
    const facts = days([
      { total: 10 },
      { total: 100 },
      { total: 100 },
      { total: 1000 },
      { total: 100 },
      { total: null, status: 'missing' },
      { total: 100 },
      { total: 100 },
      { total: 125 },
    ]);
    const codes = codesOf(facts);
    expect(codes[8]).toEqual([]);
    expect(codes[5]).toEqual(['overdue']);
    expect(codesOf(facts, { jump: 0.2, currency: 'EUR' })[8]).toEqual(['total-jump']);
  });

  it('total-jump needs 7 billed days of history, and a median of 0 with a total above 0 is a jump', () => {
    expect(codesOf(days([...seven.slice(1), { total: 1000 }]))[6]).toEqual([]);
    const zeros = days([...Array.from({ length: 7 }, () => ({ total: 0 })), { total: 1 }, { total: 0 }]);
    const codes = codesOf(zeros);
    expect(codes[7]).toEqual(['total-jump']);
    expect(detectAnomalies(zeros, OPTS)[7]?.[0]?.message).toContain('from nothing');
    expect(codes[8]).toEqual([]);
  });

  it('activity-drop: zero active users after 7 days that all had some; not for pending days', () => {
    const active = Array.from({ length: 7 }, () => ({ activeUsers: 3 }));
    expect(codesOf(days([...active, { activeUsers: 0 }]))[7]).toContain('activity-drop');
    expect(codesOf(days([...active, { activeUsers: 0, status: 'pending', total: null }]))[7]).toEqual([]);
    // One quiet day inside the window: no drop.
    const gap = [...active];
    gap[3] = { activeUsers: 0 };
    expect(codesOf(days([...gap, { activeUsers: 0 }]))[7]).not.toContain('activity-drop');
    expect(codesOf(days([...active.slice(1), { activeUsers: 0 }]))[6]).not.toContain('activity-drop');
  });

  it.each([
    ['missing', ['overdue']],
    ['stale', ['overdue']],
    ['failed', ['overdue']],
    ['billed', []],
    ['pending', []],
  ] as const)('overdue for status %s', (status, expected) => {
    const total = status === 'missing' || status === 'pending' ? null : 100;
    expect(codesOf(days([{ status, total }]))[0]).toEqual(expected);
  });

  it('open-rejects names how many', () => {
    const a = detectAnomalies(days([{ rejectsOpen: 2 }]), OPTS)[0];
    expect(a).toEqual([{ code: 'open-rejects', message: '2 rejected events of this day still open' }]);
  });
});

describe('rejectDay', () => {
  itReturns('%s in %s -> %s', rejectDay, [
    [
      '{"eventId":"e1","tenantId":"acme","userId":"u","occurredAt":"2026-10-14T23:30:00Z"}',
      'Europe/Prague',
      '2026-10-15',
    ],
    ['{"occurredAt":"2026-10-14T23:30:00+02:00"}', 'UTC', '2026-10-14'],
    ['e1,acme,u,2026-10-14T10:00:00.123Z', 'America/New_York', '2026-10-14'],
    ['{"occurredAt":"2026-10-14 10:00"}', 'UTC', undefined],
    ['{"occurredAt":"2026-13-40T10:00:00Z"}', 'UTC', undefined],
    ['not json at all', 'UTC', undefined],
  ]);
});

describe('projectMonthTotal', () => {
  it('adds the remaining shares of monthly prices and the daily average', () => {
    const remaining = Array.from({ length: 10 }, (_, i) => addDays('2026-11-21', i));
    // 3000 over days 21..30 of 30 = 1000; daily 500 / 20 days * 10 = 250.
    expect(
      projectMonthTotal({
        total: 1000,
        remainingDays: remaining,
        monthlyPrices: [{ unitPrice: 3000, lines: 1 }],
        dailyAmount: 500,
        billedDays: 20,
      }),
    ).toBe(2250);
  });

  it('is the total when nothing remains', () => {
    expect(
      projectMonthTotal({
        total: 777,
        remainingDays: [],
        monthlyPrices: [{ unitPrice: 3900, lines: 4 }],
        dailyAmount: 9,
        billedDays: 3,
      }),
    ).toBe(777);
  });
});
