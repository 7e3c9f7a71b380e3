import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { daysIn, runsOfDays } from '../../src/domain/month-days.ts';

/** The monthly share of day d of an n-day month (rule "charge lines"), in bigint. */
const share = (price: bigint, d: number, n: number) =>
  (price * BigInt(d)) / BigInt(n) - (price * BigInt(d - 1)) / BigInt(n);

describe('month days as bits', () => {
  it.each([
    [0, []],
    [0b1, [[1, 1]]],
    [0b111, [[1, 3]]],
    [
      0b1011,
      [
        [1, 2],
        [4, 4],
      ],
    ],
    [2 ** 30, [[31, 31]]],
    [2 ** 31 - 1, [[1, 31]]],
  ])('mask %i has the runs %j', (mask, runs) => {
    expect(runsOfDays(mask)).toEqual(runs);
    expect(daysIn(mask)).toBe(runs.reduce((n, [a, b]) => n + (b ?? 0) - (a ?? 0) + 1, 0));
  });

  it('the shares of a mask telescope run by run: one term per run gives the sum of its days', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.integer({ min: 28, max: 31 }),
        (bits, price, n) => {
          const mask = bits & (2 ** n - 1);
          let byDay = 0n;
          let days = 0;
          for (let d = 1; d <= n; d++)
            if ((mask & (2 ** (d - 1))) !== 0) {
              byDay += share(price, d, n);
              days++;
            }
          const byRun = runsOfDays(mask).reduce(
            (sum, [a, b]) => sum + (price * BigInt(b)) / BigInt(n) - (price * BigInt(a - 1)) / BigInt(n),
            0n,
          );
          expect(byRun).toBe(byDay);
          expect(daysIn(mask)).toBe(days);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
