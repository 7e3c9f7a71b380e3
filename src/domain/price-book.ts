import { z } from 'zod';
import { type Day, isValidDay } from './calendar.ts';
import { DomainError } from './errors.ts';
import { isIsoCurrency, type Minor } from './money.ts';
import { describeZodError } from './settings.ts';

/** Items with a monthly price. */
export const MONTHLY_PRICE_ITEMS = [
  'dashboard',
  'standard',
  'professional',
  'enterprise',
  'developer',
  'recording',
] as const;
/** Items with a daily price: only the licenses that may be billed daily, and their add-on. */
export const DAILY_PRICE_ITEMS = ['professional', 'enterprise', 'recording'] as const;

export type MonthlyPriceItem = (typeof MONTHLY_PRICE_ITEMS)[number];
export type DailyPriceItem = (typeof DAILY_PRICE_ITEMS)[number];

/**
 * One price book version. Amounts are minor units of `currency`. `tenantId` null: the default
 * book of every tenant. In force from `validFrom` (a tenant day) until the next version of the
 * same owner.
 */
export interface PriceBook {
  id: string;
  tenantId: string | null;
  currency: string;
  validFrom: Day;
  monthly: Record<MonthlyPriceItem, Minor>;
  daily: Record<DailyPriceItem, Minor>;
}

const amount = z.int('must be an integer number of minor units').min(0, 'must be >= 0');

function pricesSchema<const K extends readonly string[]>(items: K) {
  const shape = Object.fromEntries(items.map((item) => [item, amount])) as {
    [P in K[number]]: typeof amount;
  };
  // Strict, so that a misspelt item ("profesional") is an error rather than a silently missing price.
  return z.strictObject(shape);
}

/**
 * The price book file of `docs/file-formats.md` (`prices load FILE`). Every item is required, unknown keys are
 * refused, and `tenantId` null or absent makes the default book (output: `null`).
 */
export const priceBookFileSchema = z.strictObject({
  currency: z.string().refine(isIsoCurrency, 'must be an ISO 4217 currency code such as "EUR"'),
  validFrom: z.string().refine(isValidDay, 'must be a valid date YYYY-MM-DD'),
  tenantId: z.string().min(1, 'must be a non-empty string or null').nullable().default(null),
  monthly: pricesSchema(MONTHLY_PRICE_ITEMS),
  daily: pricesSchema(DAILY_PRICE_ITEMS),
});

/** A validated price book file: a `PriceBook` that has no id yet. */
export type PriceBookFile = z.output<typeof priceBookFileSchema>;

export class InvalidPriceBookError extends DomainError {
  constructor(message: string) {
    super('INVALID_PRICE_BOOK', message);
  }
}

/** Validates parsed JSON as a price book file; the error lists every bad field ("monthly.standard: ..."). */
export function parsePriceBookFile(input: unknown): PriceBookFile {
  const result = priceBookFileSchema.safeParse(input);
  if (!result.success)
    throw new InvalidPriceBookError(`invalid price book: ${describeZodError(result.error)}`);
  return result.data;
}

function latestValidOn(books: readonly PriceBook[], day: Day): PriceBook | undefined {
  let best: PriceBook | undefined;
  for (const book of books) {
    if (book.validFrom > day) continue;
    if (best !== undefined && book.validFrom === best.validFrom) {
      // Two versions of one owner from the same date: picking either would make the bill
      // depend on load order, so refuse.
      throw new DomainError(
        'AMBIGUOUS_PRICE_BOOK',
        `price books ${best.id} and ${book.id} of ${book.tenantId ?? 'the default'} are both valid from ${book.validFrom}`,
      );
    }
    if (best === undefined || book.validFrom > best.validFrom) best = book;
  }
  return best;
}

/**
 * The price book in force for `tenantId` on `day`: the tenant's own version with the latest
 * `validFrom` <= `day`, else the default version (tenantId null) with the latest `validFrom` <=
 * `day`; undefined when neither exists. A whole book is chosen, never item by item, and a
 * tenant book wins even over a newer default. (ISO dates compare correctly as strings.)
 */
export function priceBookInForce(
  books: readonly PriceBook[],
  tenantId: string,
  day: Day,
): PriceBook | undefined {
  if (!isValidDay(day)) throw new DomainError('INVALID_CALENDAR_INPUT', `invalid day ${JSON.stringify(day)}`);
  return (
    latestValidOn(
      books.filter((b) => b.tenantId === tenantId),
      day,
    ) ??
    latestValidOn(
      books.filter((b) => b.tenantId === null),
      day,
    )
  );
}
