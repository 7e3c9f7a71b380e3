import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMinor } from '../../src/domain/money.ts';
import { csvCell, csvRecord, guardFormula } from '../../src/export/csv.ts';
import { INVOICE_HEADER, invoiceRecord } from '../../src/export/invoice-csv.ts';
import { MoneyFormatters, moneyFormatter } from '../../src/export/money-format.ts';
import { itReturns } from '../support/table.ts';

/** Reads back one RFC 4180 record (as a spreadsheet would), to check that quoting round-trips. */
function parseRecord(text: string): string[] {
  expect(text.endsWith('\r\n')).toBe(true);
  const cells: string[] = [];
  let i = 0;
  const body = text.slice(0, -2);
  for (;;) {
    let cell = '';
    if (body[i] === '"') {
      i++;
      for (;;) {
        const c = body[i++];
        if (c === undefined) throw new Error('unterminated quote');
        if (c === '"') {
          if (body[i] === '"') {
            cell += '"';
            i++;
          } else break;
        } else cell += c;
      }
    } else {
      while (i < body.length && body[i] !== ',') cell += body[i++];
    }
    cells.push(cell);
    if (i >= body.length) return cells;
    expect(body[i]).toBe(',');
    i++;
  }
}

describe('csvCell', () => {
  itReturns('%j is written %j', csvCell, [
    ['plain', 'plain'],
    ['', ''],
    ['a b', 'a b'],
    ["it's", "it's"],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['"', '""""'],
    ['line\nbreak', '"line\nbreak"'],
    ['carriage\rreturn', '"carriage\rreturn"'],
    ['crlf\r\n', '"crlf\r\n"'],
    ['tab\there', 'tab\there'],
    ['Nováková 😀', 'Nováková 😀'],
  ]);

  it('round-trips any text through a record', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 5 }), (cells) => {
        expect(parseRecord(csvRecord(cells))).toEqual(cells);
      }),
    );
  });
});

describe('guardFormula', () => {
  itReturns('%j becomes %j', guardFormula, [
    ['=SUM(A1)', "'=SUM(A1)"],
    ['+420 123', "'+420 123"],
    ['-1', "'-1"],
    ['@cmd', "'@cmd"],
    ['\tx', "'\tx"],
    ['\rx', "'\rx"],
    ['a=b', 'a=b'],
    ["'quoted", "'quoted"],
    [' =x', ' =x'],
    ['', ''],
    ['\nx', '\nx'],
  ]);

  it('is applied before quoting: a guarded cell with CR is still quoted', () => {
    expect(csvCell(guardFormula('\rx'))).toBe('"\'\rx"');
    expect(csvCell(guardFormula('=a,b'))).toBe('"\'=a,b"');
  });
});

describe('csvRecord', () => {
  it('joins with commas, ends with CRLF, leaves empty cells bare', () => {
    expect(csvRecord(['a', '', 'b,c', ''])).toBe('a,,"b,c",\r\n');
    expect(csvRecord([''])).toBe('\r\n');
  });
});

describe('moneyFormatter', () => {
  it.each([
    ['EUR', 0, '0.00'],
    ['EUR', -0, '0.00'],
    ['EUR', -32, '-0.32'],
    ['EUR', 5, '0.05'],
    ['EUR', 123456789, '1234567.89'],
    ['JPY', 0, '0'],
    ['JPY', -0, '0'],
    ['JPY', -50, '-50'],
    ['JPY', 1200, '1200'],
    ['KWD', 0, '0.000'],
    ['KWD', -5, '-0.005'],
    ['KWD', 1234567, '1234.567'],
  ])('%s %d is %s', (currency, amount, text) => {
    expect(moneyFormatter(currency)(amount)).toBe(text);
    expect(new MoneyFormatters().format(amount, currency)).toBe(text);
  });

  it('writes exactly what formatMinor writes, for every safe integer', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('EUR', 'JPY', 'KWD', 'BHD', 'CZK'),
        fc.maxSafeInteger(),
        fc.boolean(),
        (c, n, neg) => {
          const amount = neg ? -n : n;
          expect(moneyFormatter(c)(amount)).toBe(formatMinor(amount, c));
        },
      ),
    );
  });

  it('refuses a non-integer amount and an unknown currency', () => {
    expect(() => moneyFormatter('EUR')(1.5)).toThrow(/safe integer/);
    expect(() => moneyFormatter('XYZ')).toThrow(/XYZ/);
  });
});

describe('invoice records', () => {
  it('has the header of docs/billing.md, with CRLF', () => {
    expect(INVOICE_HEADER).toBe(
      'period,tenant_id,user_id,user_last_name,user_email,item,billing,quantity,unit_price,amount,currency,first_day,last_day\r\n',
    );
  });

  const base = {
    tenantId: 'acme',
    userId: 'u-1',
    lastName: 'Nováková',
    email: 'jana@acme.example',
    item: 'license.standard',
    billing: 'monthly',
    quantity: 30,
    unitPrice: 1900,
    amount: 1900,
    currency: 'EUR',
    firstDay: '2026-11-01',
    lastDay: '2026-11-30',
  };

  it('writes a charge row', () => {
    expect(invoiceRecord('2026-11', base, new MoneyFormatters())).toBe(
      '2026-11,acme,u-1,Nováková,jana@acme.example,license.standard,monthly,30,19.00,19.00,EUR,2026-11-01,2026-11-30\r\n',
    );
  });

  it('writes an adjustment row with an empty unit price, guarded and quoted free text, missing names bare', () => {
    const row = {
      ...base,
      userId: '=HYPERLINK("x")',
      lastName: null,
      email: '@x,y',
      item: 'adjustment.license.standard',
      quantity: 2,
      unitPrice: null,
      amount: -32,
      firstDay: '2026-10-05',
      lastDay: '2026-10-07',
    };
    expect(invoiceRecord('2026-11', row, new MoneyFormatters())).toBe(
      '2026-11,acme,"\'=HYPERLINK(""x"")",,"\'@x,y",adjustment.license.standard,monthly,2,,-0.32,EUR,2026-10-05,2026-10-07\r\n',
    );
  });
});
