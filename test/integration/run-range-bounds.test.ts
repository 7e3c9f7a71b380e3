import { describe, expect, it } from 'vitest';
import { DayNotBillableError } from '../../src/billing/errors.ts';
import { billRange } from '../../src/billing/run-range.service.ts';
import { seedTenant, useBillingDatabase } from './jobs-fixtures.ts';

/*
 * `billing run/replay --day D --to D2` over a range reaching back centuries costs its billable
 * days only: the up-front check is one comparison per tenant, and the days before the tenant's
 * first day are one `skipped` result.
 */

const NOW = new Date('2026-11-25T12:00:00Z'); // the 24th is the latest billable day in Prague

describe('billRange over a range that reaches back to year 1', () => {
  const conn = useBillingDatabase((db) => seedTenant(db, 'acme', '2026-11-20T08:00:00+01:00'));

  it('bills the billable days and reports the days before the first day as one skipped result', async () => {
    const r = await billRange(conn.db, {
      tenantId: 'acme',
      from: '0001-01-01',
      to: '2026-11-22',
      trigger: 'manual',
      now: NOW,
    });
    expect(
      r.results.map((x) => [
        x.day,
        'through' in x ? x.through : undefined,
        'outcome' in x ? x.outcome.status : 'error',
      ]),
    ).toEqual([
      ['0001-01-01', '2026-11-19', 'skipped'],
      ['2026-11-20', undefined, 'billed'],
      ['2026-11-21', undefined, 'billed'],
      ['2026-11-22', undefined, 'billed'],
    ]);
    // A single day before the first day is one plain result, as before.
    const one = await billRange(conn.db, {
      tenantId: 'acme',
      from: '2026-11-19',
      trigger: 'manual',
      now: NOW,
    });
    expect(one.results).toEqual([
      { tenantId: 'acme', day: '2026-11-19', outcome: { status: 'skipped', reason: 'before-first-day' } },
    ]);
  });

  it('refuses a range whose end is not billable yet, naming the first day that is not', async () => {
    const attempt = billRange(conn.db, {
      tenantId: 'acme',
      from: '0001-01-01',
      to: '2026-11-30',
      trigger: 'manual',
      now: NOW,
    });
    await expect(attempt).rejects.toBeInstanceOf(DayNotBillableError);
    await expect(attempt).rejects.toThrow('2026-11-25');
    const later = billRange(conn.db, {
      tenantId: 'acme',
      from: '2026-11-27',
      to: '2026-11-30',
      trigger: 'manual',
      now: NOW,
    });
    await expect(later).rejects.toThrow('2026-11-27');
  });
});
