import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { monthlyShare } from '../../src/domain/proration.ts';
import { itReturns } from '../support/table.ts';

const shares = (price: number, n: number): number[] =>
  Array.from({ length: n }, (_, i) => monthlyShare(price, i + 1, n));

describe('monthlyShare', () => {
  itReturns('P=%d, day %d of %d: %d', monthlyShare, [
    // price, d, n, share
    [1900, 1, 30, 63],
    [1900, 2, 30, 63],
    [1900, 3, 30, 64],
    [1900, 10, 31, 61],
    [1900, 29, 29, 66],
    [3100, 17, 31, 100],
    [2800, 28, 28, 100],
    [0, 15, 30, 0],
    // a price below the month length: all on the days where the running total steps up
    [1, 1, 31, 0],
    [1, 30, 31, 0],
    [1, 31, 31, 1],
    [2, 16, 31, 1],
  ]);

  it('stays exact beyond 2^53 / 31 (where P*d in floats would round)', () => {
    const p = Number.MAX_SAFE_INTEGER;
    // floor(P*30/31) computed by hand with BigInt: the last day gets the remainder
    const expected = BigInt(p) - (BigInt(p) * 30n) / 31n;
    expect(monthlyShare(p, 31, 31)).toBe(Number(expected));
    expect(shares(p, 31).reduce((a, b) => a + b, 0)).toBe(p);
  });

  it.each([
    [-1, 1, 30],
    [1.5, 1, 30],
    [100, 0, 30],
    [100, 31, 30],
    [100, 1.5, 30],
    [100, 1, 0],
  ])('refuses price %d, day %d, month of %d', (price, d, n) => {
    expect(() => monthlyShare(price, d, n)).toThrow();
  });

  it('the shares of a month add up to exactly the monthly price, each >= 0 and within 1 of P/n', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 28, max: 31 }),
        (price, n) => {
          const all = shares(price, n);
          // partial sums never exceed P, so this plain sum is exact
          expect(all.reduce((a, b) => a + b, 0)).toBe(price);
          const low = Number(BigInt(price) / BigInt(n));
          for (const s of all) {
            expect(s).toBeGreaterThanOrEqual(0);
            expect(s === low || s === low + 1).toBe(true);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('small prices too (where most days are 0)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 28, max: 31 }), (price, n) => {
        expect(shares(price, n).reduce((a, b) => a + b, 0)).toBe(price);
      }),
    );
  });
});
