import { DomainError } from './errors.ts';

/**
 * An amount of money in integer minor units of its currency (cents for EUR, yen for JPY, fils
 * for KWD). Always a safe integer; never a float, so sums are exact.
 */
export type Minor = number;

export class MoneyError extends DomainError {
  constructor(message: string) {
    super('INVALID_MONEY', message);
  }
}

/** Throws unless `value` is a safe integer; `what` names the value in the message. */
export function assertMinor(value: number, what = 'amount'): asserts value is Minor {
  if (!Number.isSafeInteger(value)) {
    throw new MoneyError(`${what} must be a safe integer number of minor units, got ${String(value)}`);
  }
}

/** Exact sum of minor amounts; throws if a term or the total is not a safe integer. */
export function sumMinor(amounts: Iterable<Minor>): Minor {
  let total = 0;
  for (const a of amounts) {
    assertMinor(a);
    total += a;
    // Every partial sum of safe integers below 2^53 is computed exactly, so this check suffices.
    assertMinor(total, 'total');
  }
  // `-0 + 0` is 0, but a sum of nothing but `-0` stays `-0`: normalise so "0.00" is never signed.
  return total === 0 ? 0 : total;
}

let knownCurrencies: ReadonlySet<string> | undefined;

/** True for three upper-case letters that the runtime's Intl knows as an ISO 4217 currency. */
export function isIsoCurrency(code: string): boolean {
  if (typeof code !== 'string' || !/^[A-Z]{3}$/.test(code)) return false;
  knownCurrencies ??= new Set(Intl.supportedValuesOf('currency'));
  return knownCurrencies.has(code);
}

/** Number of minor digits of `currency` (EUR 2, JPY 0, KWD 3), as Intl (CLDR) knows it. */
export function minorDigits(currency: string): number {
  if (!isIsoCurrency(currency)) throw new MoneyError(`unknown currency ${JSON.stringify(currency)}`);
  return (
    new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
  );
}

/**
 * `amount` (minor units) written in major units with exactly the currency's minor digits, `.`
 * as decimal point, no grouping, `-` for negatives: `formatMinor(-32, 'EUR')` is `'-0.32'`,
 * `formatMinor(1234567, 'KWD')` is `'1234.567'`, `formatMinor(500, 'JPY')` is `'500'`. Zero
 * (also `-0`) is `'0.00'`, never `'-0.00'`. Built from the decimal digits, never through floats.
 */
export function formatMinor(amount: Minor, currency: string): string {
  assertMinor(amount);
  const digits = minorDigits(currency);
  const sign = amount < 0 ? '-' : '';
  const magnitude = String(Math.abs(amount));
  if (digits === 0) return sign + magnitude;
  const padded = magnitude.padStart(digits + 1, '0');
  return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
}

const INTEGER_TEXT = /^-?(0|[1-9]\d*)$/;

/**
 * Parses an integer written in decimal, as `pg` returns `int8`/`bigint` columns ("-1250"), into
 * minor units, exactly. Rejects anything else (decimals, exponents, spaces, leading zeros) and
 * values outside the safe-integer range rather than rounding them.
 */
export function parseMinor(s: string): Minor {
  if (typeof s !== 'string' || !INTEGER_TEXT.test(s)) {
    throw new MoneyError(`not an integer amount of minor units: ${JSON.stringify(s)}`);
  }
  const big = BigInt(s);
  if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MoneyError(`amount ${s} is outside the safe integer range`);
  }
  // Number(0n) is 0, so "-0" comes back as an unsigned zero.
  return Number(big);
}
