import { type Day, dayOfMonth, daysInMonth } from './calendar.ts';
import type { DaySnapshot } from './day-snapshot.ts';
import { DomainError } from './errors.ts';
import type { Minor } from './money.ts';
import type { PriceBook } from './price-book.ts';
import { monthlyShare } from './proration.ts';
import type { BillingMode, License } from './settings.ts';

export type ChargeItem = `license.${License}` | 'addon.recording';

/** One charge of one user on one day, in minor units of the day's currency. */
export interface ChargeLine {
  item: ChargeItem;
  billing: BillingMode;
  /** The amount charged for this day: the monthly share, or the daily price. >= 0. */
  amount: Minor;
  /** The price the amount comes from: the monthly price (monthly lines) or the daily price (daily lines). */
  unitPrice: Minor;
}

/**
 * A day needs a price that the book in force lacks, or the book is in another currency. The
 * whole day must fail; the caller adds the tenant to what it reports.
 */
export class MissingPriceError extends DomainError {
  readonly day: Day;
  readonly item: string;
  readonly reason: string;

  constructor(day: Day, item: string, reason: string) {
    super('MISSING_PRICE', `no price for ${item} on ${day}: ${reason}`);
    this.day = day;
    this.item = item;
    this.reason = reason;
  }
}

export interface ChargeLinesInput {
  day: Day;
  /** The user's day snapshot; undefined: not billed that day, no lines. */
  snapshot: DaySnapshot | undefined;
  /** The user logged in at least once during the day (tenant time zone). */
  active: boolean;
  /** The price book in force on `day` for the tenant (`priceBookInForce`). */
  prices: PriceBook | undefined;
  /** The tenant's currency; the book must be in it. */
  currency: string;
}

function priceOf(input: ChargeLinesInput, billing: BillingMode, name: string, item: ChargeItem): Minor {
  const { day, prices, currency } = input;
  if (prices === undefined) throw new MissingPriceError(day, item, 'no price book is in force');
  if (prices.currency !== currency) {
    throw new MissingPriceError(
      day,
      item,
      `price book ${prices.id} is in ${prices.currency}, the tenant bills in ${currency}`,
    );
  }
  const table: Partial<Record<string, Minor>> = billing === 'monthly' ? prices.monthly : prices.daily;
  const price = Object.hasOwn(table, name) ? table[name] : undefined;
  if (price === undefined) {
    throw new MissingPriceError(day, item, `price book ${prices.id} has no ${billing} price for ${name}`);
  }
  if (!Number.isSafeInteger(price) || price < 0) {
    throw new MissingPriceError(
      day,
      item,
      `price book ${prices.id} has an invalid ${billing} price for ${name}: ${String(price)}`,
    );
  }
  return price;
}

/**
 * Reference of the rule "charge lines"; production twin: `dayLinesSql` in
 * `src/db/repositories/day-lines.repository.ts`; kept equal by
 * `test/integration/bill-day-differential.test.ts`. Change both at once.
 *
 * The charge lines of one user on one day (`docs/billing.md`, "Charge lines"), license line first:
 * - monthly: `license.<license>` = the day's share (`monthlyShare`, day d of an n-day month) of
 *   the monthly price, plus `addon.recording` likewise when the snapshot has the add-on;
 * - daily and active: the daily price of the license, plus the daily price of `recording`;
 * - daily and not active: nothing.
 * Zero amounts are still returned: they record that the license was held. Throws
 * `MissingPriceError` when a needed price is missing or the book's currency is not `currency`.
 */
export function chargeLinesForDay(input: ChargeLinesInput): ChargeLine[] {
  const { day, snapshot, active } = input;
  if (snapshot === undefined) return [];
  const { billing } = snapshot;
  if (billing === 'daily' && !active) return [];
  const wanted: Array<[ChargeItem, string]> = [[`license.${snapshot.license}`, snapshot.license]];
  if (snapshot.recording) wanted.push(['addon.recording', 'recording']);
  const d = dayOfMonth(day);
  const n = daysInMonth(day);
  return wanted.map(([item, name]) => {
    const unitPrice = priceOf(input, billing, name, item);
    const amount = billing === 'monthly' ? monthlyShare(unitPrice, d, n) : unitPrice;
    return { item, billing, amount, unitPrice };
  });
}
