import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.ts';
import {
  assertMinor,
  formatMinor,
  isIsoCurrency,
  minorDigits,
  parseMinor,
  sumMinor,
} from '../../src/domain/money.ts';
import { itReturns } from '../support/table.ts';

describe('minorDigits', () => {
  itReturns('%s has %d minor digits', minorDigits, [
    ['EUR', 2],
    ['USD', 2],
    ['CZK', 2],
    ['JPY', 0],
    ['KWD', 3],
    ['BHD', 3],
  ]);

  it('refuses an unknown currency, naming it', () => {
    expect(() => minorDigits('ABC')).toThrow(/"ABC"/);
    expect(() => minorDigits('eur')).toThrow(/"eur"/);
  });
});

describe('isIsoCurrency', () => {
  itReturns('%j -> %s', isIsoCurrency, [
    ['EUR', true],
    ['JPY', true],
    ['KWD', true],
    ['eur', false],
    ['EURO', false],
    ['EU', false],
    ['ABC', false],
    ['', false],
  ]);
});

describe('formatMinor', () => {
  itReturns('%d %s is %s', formatMinor, [
    [0, 'EUR', '0.00'],
    [-0, 'EUR', '0.00'],
    [5, 'EUR', '0.05'],
    [-5, 'EUR', '-0.05'],
    [-32, 'EUR', '-0.32'],
    [100, 'EUR', '1.00'],
    [-100, 'EUR', '-1.00'],
    [190_000, 'EUR', '1900.00'],
    [123_456_789, 'EUR', '1234567.89'],
    [Number.MAX_SAFE_INTEGER, 'EUR', '90071992547409.91'],
    [Number.MIN_SAFE_INTEGER, 'EUR', '-90071992547409.91'],
    [0, 'JPY', '0'],
    [-0, 'JPY', '0'],
    [500, 'JPY', '500'],
    [-32, 'JPY', '-32'],
    [0, 'KWD', '0.000'],
    [1, 'KWD', '0.001'],
    [-1234, 'KWD', '-1.234'],
    [1000, 'KWD', '1.000'],
  ]);

  it.each([1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])('refuses non-safe-integer %d', (amount) => {
    expect(() => formatMinor(amount, 'EUR')).toThrow(DomainError);
  });

  it('keeps every digit: removing the point gives the amount back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom('EUR', 'JPY', 'KWD'),
        (amount, currency) => {
          const text = formatMinor(amount, currency);
          expect(text).toMatch(/^-?\d+(\.\d+)?$/);
          expect(text.split('.')[1]?.length ?? 0).toBe(minorDigits(currency));
          expect(BigInt(text.replace('.', ''))).toBe(BigInt(amount));
        },
      ),
    );
  });
});

describe('parseMinor', () => {
  itReturns('%s -> %d', parseMinor, [
    ['0', 0],
    ['-1250', -1250],
    ['1900', 1900],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['-9007199254740991', Number.MIN_SAFE_INTEGER],
  ]);

  it('"-0" is an unsigned zero', () => {
    expect(Object.is(parseMinor('-0'), 0)).toBe(true);
  });

  it.each(['9007199254740992', '-9007199254740992', '1.5', '1e3', ' 1', '01', '', '+1', '-', '0x10', '1.0'])(
    'refuses %j',
    (text) => {
      expect(() => parseMinor(text)).toThrow(DomainError);
    },
  );

  it('round-trips every safe integer', () => {
    fc.assert(
      fc.property(fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(parseMinor(String(n))).toBe(n);
      }),
    );
  });
});

describe('assertMinor and sumMinor', () => {
  it('assertMinor names the value', () => {
    expect(() => assertMinor(0.1, 'price of standard')).toThrow(/price of standard/);
    expect(() => assertMinor(7)).not.toThrow();
  });

  it('sums exactly and refuses an unsafe total', () => {
    expect(sumMinor([10, -3, 25])).toBe(32);
    expect(Object.is(sumMinor([-0, -0]), 0)).toBe(true);
    expect(sumMinor([])).toBe(0);
    expect(() => sumMinor([Number.MAX_SAFE_INTEGER, 1])).toThrow(/total/);
  });
});
