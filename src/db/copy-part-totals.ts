import type { Minor } from '../domain/money.ts';
import type { PutBytes } from './copy-rows-out.ts';

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
/** The longest money cell written: a sign, 19 digits of a bigint, the point and up to 20 zeros. */
const MONEY_BYTES = 48;

/**
 * The money cells of the invoice CSV records COPY sends, and the part's totals: a `RowFormatter`
 * of `CopyRowsOut`. A record of `invoiceCsvCellsQuery` ends with
 * `unit_price,amount,currency,first_day,last_day`, five cells COPY never quotes (two bigints, a
 * currency code, two dates: no comma, quote, CR or LF), so its last five commas delimit them. The
 * two amounts come as minor units and are written in major units with the currency's minor
 * digits, by the rule of `moneyFormatter` (src/export/money-format.ts): `-` for negatives,
 * exactly `digits` decimals, at least one digit before the point; an empty unit price (an
 * adjustment row) stays empty. Formatting them here rather than in SQL (`minor * 0.01`, a
 * numeric per cell) saves the database ~10% of the export's CPU, on the critical path; the
 * client had that time to spare (docs/performance/export.md, "Issue 11, tenth step").
 *
 * The rows and the sum of `amount` per currency are added up from the same bytes, so the totals
 * are those of the file, with no second read of the month rows. Anything else is refused, never
 * guessed at.
 */
export class PartTotals {
  readonly #currencies: ReadonlySet<string>;
  readonly #digitsOf: (currency: string) => number;
  readonly #totals: { code: Buffer; digits: number; rows: number; amount: number }[] = [];
  #last: { code: Buffer; digits: number; rows: number; amount: number } | undefined;
  readonly #money = Buffer.alloc(MONEY_BYTES);

  /**
   * `currencies`: those the part's records may have (any other is refused); `digitsOf` gives a
   * currency's minor digits, asked at its first record (the first `Intl` lookup costs ~20 ms, then
   * spent while the server computes the first rows rather than before the COPY is sent).
   */
  constructor(currencies: readonly string[], digitsOf: (currency: string) => number) {
    this.#currencies = new Set(currencies);
    this.#digitsOf = digitsOf;
  }

  /** A `RowFormatter`: writes the record `bytes[from, to)` with its money cells in major units, and adds it up. */
  readonly format = (bytes: Buffer, from: number, to: number, put: PutBytes): void => {
    // The last five commas: before last_day, first_day, currency, amount and unit_price.
    let c1 = to - 1;
    while (c1 >= from && bytes[c1] !== COMMA) c1--;
    let c2 = c1 - 1;
    while (c2 >= from && bytes[c2] !== COMMA) c2--;
    let c3 = c2 - 1;
    while (c3 >= from && bytes[c3] !== COMMA) c3--;
    let c4 = c3 - 1;
    while (c4 >= from && bytes[c4] !== COMMA) c4--;
    let c5 = c4 - 1;
    while (c5 >= from && bytes[c5] !== COMMA) c5--;
    if (c5 < from) throw this.#refuse(bytes, from, to);
    let total = this.#last;
    if (
      total === undefined ||
      c2 - c3 !== 4 ||
      total.code[0] !== bytes[c3 + 1] ||
      total.code[1] !== bytes[c3 + 2] ||
      total.code[2] !== bytes[c3 + 3]
    )
      total = this.#currency(bytes, c3 + 1, c2, from, to);
    put(bytes, from, c5 + 1);
    if (c4 > c5 + 1) this.#writeMoney(bytes, c5 + 1, c4, total.digits, put, from, to);
    const amount = this.#writeMoney(bytes, c4, c3, total.digits, put, from, to);
    if (!Number.isSafeInteger(amount)) throw this.#refuse(bytes, from, to);
    put(bytes, c3, to);
    total.amount += amount;
    if (!Number.isSafeInteger(total.amount))
      throw new RangeError(
        `invoice CSV: the total of ${total.code.toString('latin1')} is not a safe integer`,
      );
    total.rows++;
    this.#last = total;
  };

  /**
   * Writes the minor units `bytes[at, end)` (`[-]digits`; at `at` a comma when it is the amount,
   * which is written first) in major units with `digits` decimals; returns their value.
   */
  #writeMoney(
    bytes: Buffer,
    at: number,
    end: number,
    digits: number,
    put: PutBytes,
    rowFrom: number,
    rowTo: number,
  ): number {
    const out = this.#money;
    let o = 0;
    if (bytes[at] === COMMA) {
      out[o++] = COMMA;
      at++;
    }
    const negative = bytes[at] === MINUS;
    if (negative) {
      out[o++] = MINUS;
      at++;
    }
    const n = end - at;
    if (n < 1 || n > 19) throw this.#refuse(bytes, rowFrom, rowTo);
    let minor = 0;
    for (let i = at; i < end; i++) {
      const b = bytes[i] as number;
      if (b < ZERO || b > NINE) throw this.#refuse(bytes, rowFrom, rowTo);
      minor = minor * 10 + (b - ZERO);
    }
    if (digits === 0) {
      for (let i = at; i < end; i++) out[o++] = bytes[i] as number;
    } else if (n <= digits) {
      out[o++] = ZERO;
      out[o++] = DOT;
      for (let i = n; i < digits; i++) out[o++] = ZERO;
      for (let i = at; i < end; i++) out[o++] = bytes[i] as number;
    } else {
      const point = end - digits;
      for (let i = at; i < point; i++) out[o++] = bytes[i] as number;
      out[o++] = DOT;
      for (let i = point; i < end; i++) out[o++] = bytes[i] as number;
    }
    put(out, 0, o);
    return negative ? -minor : minor;
  }

  #currency(bytes: Buffer, from: number, to: number, rowFrom: number, rowTo: number) {
    const code = bytes.toString('latin1', from, to);
    const found = this.#totals.find((c) => c.code.toString('latin1') === code);
    if (found) return found;
    if (!this.#currencies.has(code)) throw this.#refuse(bytes, rowFrom, rowTo);
    const digits = this.#digitsOf(code);
    if (!Number.isInteger(digits) || digits < 0 || digits > 20)
      throw new RangeError(`minor digits of ${code} must be an integer 0..20, not ${digits}`);
    const added = { code: Buffer.from(code, 'latin1'), digits, rows: 0, amount: 0 };
    this.#totals.push(added);
    return added;
  }

  #refuse(bytes: Buffer, from: number, to: number): Error {
    return new Error(
      `invoice CSV: a record COPY sent does not end with unit_price,amount,currency,first_day,last_day (minor units) as expected: …${bytes.toString('utf8', Math.max(from, to - 200), to)}`,
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
