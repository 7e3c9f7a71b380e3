import type { Minor } from '../domain/money.ts';

/** One currency's share of a tenant's part: its rows and the sum of their `amount` (minor units). */
export interface CurrencyTotal {
  currency: string;
  rows: number;
  amount: Minor;
}

const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * The rows and the sum of `amount` per currency of one part, read off the CSV records COPY
 * sends (`CopyRowsOut`'s `onRowEnd`): the file's own bytes, so the totals are those of the file,
 * and no second read of the month rows. A record of `invoiceCsvCellsQuery` ends with
 * `amount,currency,first_day,last_day`, four cells COPY never quotes (a numeric, a currency code,
 * two dates: no comma, quote, CR or LF), so its last four commas delimit them. The amount is
 * major units with exactly the currency's minor digits (`moneySql`): its digits without the
 * point are the minor units. Anything else is refused, never guessed at.
 */
export class PartTotals {
  readonly #digits: ReadonlyMap<string, number>;
  readonly #totals: { code: Buffer; digits: number; rows: number; amount: number }[] = [];
  #last: { code: Buffer; digits: number; rows: number; amount: number } | undefined;

  constructor(digits: ReadonlyMap<string, number>) {
    this.#digits = digits;
  }

  /** A `RowEndHook`: adds the record whose last bytes are `bytes[from, to)`. */
  readonly add = (bytes: Buffer, from: number, to: number): void => {
    // The last four commas: before last_day, first_day, currency and amount.
    let c1 = to - 1;
    while (c1 >= from && bytes[c1] !== COMMA) c1--;
    let c2 = c1 - 1;
    while (c2 >= from && bytes[c2] !== COMMA) c2--;
    let c3 = c2 - 1;
    while (c3 >= from && bytes[c3] !== COMMA) c3--;
    let c4 = c3 - 1;
    while (c4 >= from && bytes[c4] !== COMMA) c4--;
    if (c4 < from) throw this.#refuse(bytes, from, to);
    let total = this.#last;
    if (
      total === undefined ||
      c2 - c3 !== 4 ||
      total.code[0] !== bytes[c3 + 1] ||
      total.code[1] !== bytes[c3 + 2] ||
      total.code[2] !== bytes[c3 + 3]
    )
      total = this.#currency(bytes, c3 + 1, c2, from, to);
    // The amount: [-]digits[.digits], exactly `digits` decimals.
    let at = c4 + 1;
    const negative = bytes[at] === MINUS;
    if (negative) at++;
    let minor = 0;
    let decimals = -1;
    if (at === c3) throw this.#refuse(bytes, from, to);
    for (; at < c3; at++) {
      const b = bytes[at] as number;
      if (b >= ZERO && b <= NINE) {
        minor = minor * 10 + (b - ZERO);
        if (decimals >= 0) decimals++;
      } else if (b === DOT && decimals < 0) decimals = 0;
      else throw this.#refuse(bytes, from, to);
    }
    if (Math.max(decimals, 0) !== total.digits || !Number.isSafeInteger(minor))
      throw this.#refuse(bytes, from, to);
    total.amount += negative ? -minor : minor;
    if (!Number.isSafeInteger(total.amount))
      throw new RangeError(
        `invoice CSV: the total of ${total.code.toString('latin1')} is not a safe integer`,
      );
    total.rows++;
    this.#last = total;
  };

  #currency(bytes: Buffer, from: number, to: number, rowFrom: number, rowTo: number) {
    const code = bytes.toString('latin1', from, to);
    const found = this.#totals.find((c) => c.code.toString('latin1') === code);
    if (found) return found;
    const digits = this.#digits.get(code);
    if (digits === undefined) throw this.#refuse(bytes, rowFrom, rowTo);
    const added = { code: Buffer.from(code, 'latin1'), digits, rows: 0, amount: 0 };
    this.#totals.push(added);
    return added;
  }

  #refuse(bytes: Buffer, from: number, to: number): Error {
    return new Error(
      `invoice CSV: a record COPY sent does not end with amount,currency,first_day,last_day as expected: …${bytes.toString('utf8', from, to)}`,
    );
  }

  /** Rows and sum of `amount` per currency so far, in currency order, currencies without rows left out. */
  totals(): CurrencyTotal[] {
    return this.#totals
      .map((c) => ({
        currency: c.code.toString('latin1'),
        rows: c.rows,
        amount: c.amount === 0 ? 0 : c.amount,
      }))
      .sort((a, b) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0));
  }
}
