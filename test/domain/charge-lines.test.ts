import { describe, expect, it } from 'vitest';
import {
  type ChargeLinesInput,
  chargeLinesForDay,
  MissingPriceError,
} from '../../src/domain/charge-lines.ts';
import type { DaySnapshot } from '../../src/domain/day-snapshot.ts';
import { DomainError } from '../../src/domain/errors.ts';
import type { PriceBook } from '../../src/domain/price-book.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';

const EUR_BOOK: PriceBook = { ...CLI_PRICE_BOOK, id: 'default-2026-01' };

const snapshot = (
  license: DaySnapshot['license'],
  billing: DaySnapshot['billing'] = 'monthly',
  recording = false,
): DaySnapshot => ({ license, billing, recording });

const input = (patch: Partial<ChargeLinesInput>): ChargeLinesInput => ({
  day: '2026-03-10',
  snapshot: snapshot('standard'),
  active: false,
  prices: EUR_BOOK,
  currency: 'EUR',
  ...patch,
});

describe('chargeLinesForDay', () => {
  it.each([
    [
      'monthly standard, day 10 of 31: floor(19000/31) - floor(17100/31)',
      input({}),
      [{ item: 'license.standard', billing: 'monthly', amount: 61, unitPrice: 1900 }],
    ],
    [
      'monthly lines do not depend on activity',
      input({ active: true }),
      [{ item: 'license.standard', billing: 'monthly', amount: 61, unitPrice: 1900 }],
    ],
    [
      'monthly standard with the recording add-on',
      input({ snapshot: snapshot('standard', 'monthly', true) }),
      [
        { item: 'license.standard', billing: 'monthly', amount: 61, unitPrice: 1900 },
        { item: 'addon.recording', billing: 'monthly', amount: 29, unitPrice: 900 },
      ],
    ],
    [
      'last day of a leap February: day 29 of 29',
      input({ day: '2028-02-29', snapshot: snapshot('developer') }),
      [{ item: 'license.developer', billing: 'monthly', amount: 9900 - 9558, unitPrice: 9900 }],
    ],
    [
      'daily professional, logged in',
      input({ snapshot: snapshot('professional', 'daily'), active: true }),
      [{ item: 'license.professional', billing: 'daily', amount: 250, unitPrice: 250 }],
    ],
    [
      'daily professional with recording, logged in',
      input({ snapshot: snapshot('professional', 'daily', true), active: true }),
      [
        { item: 'license.professional', billing: 'daily', amount: 250, unitPrice: 250 },
        { item: 'addon.recording', billing: 'daily', amount: 50, unitPrice: 50 },
      ],
    ],
    [
      'daily user without a login: no line',
      input({ snapshot: snapshot('enterprise', 'daily'), active: false }),
      [],
    ],
    ['no snapshot: no line', input({ snapshot: undefined, active: true }), []],
    [
      'a share that rounds to 0 is still a line',
      input({ day: '2026-03-01', prices: { ...EUR_BOOK, monthly: { ...EUR_BOOK.monthly, standard: 1 } } }),
      [{ item: 'license.standard', billing: 'monthly', amount: 0, unitPrice: 1 }],
    ],
  ])('%s', (_name, given, lines) => {
    expect(chargeLinesForDay(given)).toEqual(lines);
  });

  it('a whole month of monthly lines adds up to the monthly prices', () => {
    const days = Array.from({ length: 30 }, (_, i) => `2026-04-${String(i + 1).padStart(2, '0')}`);
    const total = days
      .flatMap((day) =>
        chargeLinesForDay(input({ day, snapshot: snapshot('professional', 'monthly', true) })),
      )
      .reduce((sum, line) => sum + line.amount, 0);
    expect(total).toBe(3900 + 900);
  });

  const missing = (given: ChargeLinesInput): MissingPriceError => {
    try {
      chargeLinesForDay(given);
    } catch (e) {
      if (e instanceof MissingPriceError) return e;
      throw e;
    }
    throw new Error('expected a MissingPriceError');
  };

  it.each([
    ['no book in force', input({ prices: undefined }), 'license.standard'],
    ['book in another currency', input({ prices: { ...EUR_BOOK, currency: 'USD' } }), 'license.standard'],
    [
      'a daily price for a license that has none',
      input({ snapshot: snapshot('standard', 'daily'), active: true }),
      'license.standard',
    ],
    [
      'an item missing from the book',
      input({
        snapshot: snapshot('professional', 'daily', true),
        active: true,
        prices: { ...EUR_BOOK, daily: { professional: 250, enterprise: 390 } as PriceBook['daily'] },
      }),
      'addon.recording',
    ],
    [
      'an invalid amount in the book',
      input({ prices: { ...EUR_BOOK, monthly: { ...EUR_BOOK.monthly, standard: 19.5 } } }),
      'license.standard',
    ],
  ])('%s: MissingPriceError naming the day and %s', (_name, given, item) => {
    const error = missing(given);
    expect(error).toBeInstanceOf(DomainError);
    expect(error.code).toBe('MISSING_PRICE');
    expect(error.day).toBe(given.day);
    expect(error.item).toBe(item);
    expect(error.message).toContain(given.day);
    expect(error.message).toContain(item);
    expect(error.reason.length).toBeGreaterThan(0);
  });

  it('the currency is named in a mismatch', () => {
    expect(missing(input({ prices: { ...EUR_BOOK, currency: 'USD' } })).reason).toMatch(/USD.*EUR/);
  });

  it('a day that needs no price needs no book', () => {
    expect(
      chargeLinesForDay(input({ snapshot: snapshot('enterprise', 'daily'), prices: undefined })),
    ).toEqual([]);
  });
});
