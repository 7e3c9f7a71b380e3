import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateCronPattern } from '../../jobs/cron-pattern.ts';
import { billDayJobId, billDayPayload, replayDayJobId } from '../../jobs/queues.ts';

/** Pure parts of the job layer: job ids and the schedule pattern check (no services needed). */
describe('job ids', () => {
  const tenant = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/);
  const day = fc.date({
    min: new Date('2000-01-01T00:00:00Z'),
    max: new Date('2099-12-31T00:00:00Z'),
    noInvalidDate: true,
  });

  it('never contain ":" and are never all digits, for any tenant, day, trigger and instant', () => {
    fc.assert(
      fc.property(
        tenant,
        day,
        day,
        fc.constantFrom('schedule', 'catch-up', 'late-data'),
        fc.nat(),
        (t, d, at, trigger, rev) => {
          const payload = billDayPayload.parse({
            tenantId: t,
            day: d.toISOString().slice(0, 10),
            trigger,
            now: at.toISOString(),
            revision: rev,
          });
          for (const id of [
            billDayJobId(payload),
            replayDayJobId({ tenantId: t, day: payload.day, now: payload.now }),
          ]) {
            expect(id).not.toContain(':');
            expect(id).not.toMatch(/^\d+$/);
          }
        },
      ),
    );
  });

  it('are built from the business key', () => {
    const now = '2026-11-28T03:00:00.000Z';
    expect(billDayJobId({ tenantId: 'acme', day: '2026-11-27', trigger: 'schedule', now })).toBe(
      'bill-day.acme.2026-11-27.schedule.20261128T030000000Z',
    );
    expect(
      billDayJobId({ tenantId: 'acme', day: '2026-11-25', trigger: 'late-data', now, revision: 7 }),
    ).toBe('bill-day.acme.2026-11-25.late-data.r7.20261128T030000000Z');
  });
});

describe('schedule pattern check', () => {
  it.each(['0 * * * *', '*/30 * * * * *', '0 5 2 * * MON-FRI', '15,45 1-3 * JAN,jul ?', '0 0 1 1 *'])(
    'accepts %s',
    (p) => {
      expect(validateCronPattern(p)).toBe(p);
    },
  );

  it.each([
    ['* * * *', /expected 5 fields .* got 4/],
    ['* * * * * * *', /got 7/],
    ['60 * * * *', /field 1 \(minute\) "60"/],
    ['0 24 * * *', /field 2 \(hour\) "24"/],
    ['0 0 0 * *', /field 3 \(day of month\) "0"/],
    ['0 0 * 13 *', /field 4 \(month\) "13"/],
    ['0 0 * * 8', /field 5 \(day of week\) "8"/],
    ['*/0 * * * *', /field 1 \(minute\)/],
    ['5-1 * * * *', /field 1 \(minute\)/],
    ['@hourly', /expected 5 fields/],
    ['x * * * * *', /field 1 \(second\) "x"/],
  ])('refuses %s naming the field', (p, message) => {
    expect(() => validateCronPattern(p, 'BILLING_SCHEDULE')).toThrow(message);
    expect(() => validateCronPattern(p, 'BILLING_SCHEDULE')).toThrow(/^BILLING_SCHEDULE: bad cron pattern/);
  });
});
