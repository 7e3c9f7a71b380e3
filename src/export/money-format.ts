import { assertMinor, type Minor, minorDigits } from '../domain/money.ts';

/**
 * `formatMinor` for one currency, with the currency's minor digits looked up once.
 * `formatMinor` asks Intl for the digits on every call (~20 µs); an export of a million rows
 * formats two amounts per row, so it would spend most of its time there. The result is the
 * same string as `formatMinor(amount, currency)` for every safe integer (a property test holds
 * it to that): major units, exactly the currency's minor digits, `-` for negatives, never `-0`.
 */
export function moneyFormatter(currency: string): (amount: Minor) => string {
  const digits = minorDigits(currency);
  if (digits === 0) {
    return (amount) => {
      assertMinor(amount);
      return String(amount); // String(-0) is '0'
    };
  }
  return (amount) => {
    assertMinor(amount);
    const sign = amount < 0 ? '-' : '';
    const padded = String(Math.abs(amount)).padStart(digits + 1, '0');
    return `${sign}${padded.slice(0, -digits)}.${padded.slice(-digits)}`;
  };
}

/** Formatters by currency, created on first use (an all-tenant export has a few currencies). */
export class MoneyFormatters {
  readonly #byCurrency = new Map<string, (amount: Minor) => string>();

  format(amount: Minor, currency: string): string {
    let f = this.#byCurrency.get(currency);
    if (!f) {
      f = moneyFormatter(currency);
      this.#byCurrency.set(currency, f);
    }
    return f(amount);
  }
}
