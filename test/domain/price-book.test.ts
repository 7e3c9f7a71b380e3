import { describe, expect, it } from 'vitest';
import {
  InvalidPriceBookError,
  type PriceBook,
  parsePriceBookFile,
  priceBookInForce,
} from '../../src/domain/price-book.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { itReturns } from '../support/table.ts';

const CLI_EXAMPLE = CLI_PRICE_BOOK;

describe('parsePriceBookFile', () => {
  it('accepts the example of docs/file-formats.md', () => {
    expect(parsePriceBookFile(CLI_EXAMPLE)).toEqual(CLI_EXAMPLE);
  });

  it('an absent tenantId makes the default book', () => {
    const { tenantId: _, ...withoutTenant } = CLI_EXAMPLE;
    expect(parsePriceBookFile(withoutTenant).tenantId).toBeNull();
    expect(parsePriceBookFile({ ...CLI_EXAMPLE, tenantId: 'acme' }).tenantId).toBe('acme');
  });

  const withMonthly = (patch: Record<string, unknown>) => ({
    ...CLI_EXAMPLE,
    monthly: { ...CLI_EXAMPLE.monthly, ...patch },
  });
  const { recording: _recording, ...monthlyWithoutRecording } = CLI_EXAMPLE.monthly;

  it.each([
    ['missing item', { ...CLI_EXAMPLE, monthly: monthlyWithoutRecording }, 'monthly.recording'],
    [
      'negative amount',
      { ...CLI_EXAMPLE, daily: { ...CLI_EXAMPLE.daily, enterprise: -1 } },
      'daily.enterprise',
    ],
    ['fractional amount', withMonthly({ standard: 19.5 }), 'monthly.standard'],
    ['amount as a string', withMonthly({ developer: '9900' }), 'monthly.developer'],
    ['unsafe integer', withMonthly({ standard: 2 ** 53 }), 'monthly.standard'],
    ['misspelt item', withMonthly({ profesional: 1 }), 'profesional'],
    ['unknown currency', { ...CLI_EXAMPLE, currency: 'EURO' }, 'currency'],
    ['lower-case currency', { ...CLI_EXAMPLE, currency: 'eur' }, 'currency'],
    ['impossible date', { ...CLI_EXAMPLE, validFrom: '2026-02-30' }, 'validFrom'],
    ['date-time instead of date', { ...CLI_EXAMPLE, validFrom: '2026-01-01T00:00:00Z' }, 'validFrom'],
    ['numeric tenant', { ...CLI_EXAMPLE, tenantId: 42 }, 'tenantId'],
    ['missing daily', { ...CLI_EXAMPLE, daily: undefined }, 'daily'],
  ])('refuses %s, naming %s', (_name, input, field) => {
    let error: unknown;
    try {
      parsePriceBookFile(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidPriceBookError);
    expect((error as Error).message).toContain(field);
  });
});

function book(id: string, tenantId: string | null, validFrom: string, standard: number): PriceBook {
  return {
    id,
    tenantId,
    currency: 'EUR',
    validFrom,
    monthly: {
      dashboard: 500,
      standard,
      professional: 3900,
      enterprise: 5900,
      developer: 9900,
      recording: 900,
    },
    daily: { professional: 250, enterprise: 390, recording: 50 },
  };
}

const BOOKS = [
  book('default-2026-06', null, '2026-06-01', 2100),
  book('acme-2026-09', 'acme', '2026-09-01', 1700),
  book('default-2026-01', null, '2026-01-01', 1900),
  book('acme-2026-03', 'acme', '2026-03-01', 1800),
  book('zeta-2026-08', 'zeta', '2026-08-01', 1500),
];

describe('priceBookInForce', () => {
  itReturns('%s on %s: %s', (tenant: string, day: string) => priceBookInForce(BOOKS, tenant, day)?.id, [
    ['acme', '2025-12-31', undefined],
    ['acme', '2026-01-01', 'default-2026-01'],
    ['acme', '2026-02-28', 'default-2026-01'],
    ['acme', '2026-03-01', 'acme-2026-03'],
    // the tenant's own book wins over a newer default book
    ['acme', '2026-07-01', 'acme-2026-03'],
    ['acme', '2026-08-31', 'acme-2026-03'],
    ['acme', '2026-09-01', 'acme-2026-09'],
    ['beta', '2026-05-31', 'default-2026-01'],
    ['beta', '2026-07-01', 'default-2026-06'],
    // another tenant's book never applies
    ['zeta', '2026-07-31', 'default-2026-06'],
    ['zeta', '2026-08-01', 'zeta-2026-08'],
  ]);

  it('returns the whole book, not the newest price of each item', () => {
    const inForce = priceBookInForce(BOOKS, 'acme', '2026-07-01');
    expect(inForce).toBe(BOOKS[3]);
    expect(inForce?.monthly.standard).toBe(1800);
  });

  it('refuses two versions of one owner valid from the same day', () => {
    const clash = [...BOOKS, book('default-2026-06-bis', null, '2026-06-01', 2200)];
    expect(() => priceBookInForce(clash, 'beta', '2026-07-01')).toThrow(/default-2026-06-bis/);
    // the clash is invisible to a day that does not reach it
    expect(priceBookInForce(clash, 'beta', '2026-05-01')?.id).toBe('default-2026-01');
  });

  it('refuses an invalid day', () => {
    expect(() => priceBookInForce(BOOKS, 'acme', '2026-02-30')).toThrow(/2026-02-30/);
  });
});
