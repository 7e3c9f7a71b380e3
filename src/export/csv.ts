/**
 * The RFC 4180 dialect of the invoice CSV (`docs/billing.md`, Invoice CSV), written by hand rather
 * than through a CSV library so that every byte rule is visible in one place and tested.
 */

/** A cell must be quoted exactly when it contains one of these: comma, double quote, CR or LF. */
const NEEDS_QUOTES = /[",\r\n]/;
const QUOTE = /"/g;
/** Characters that make a spreadsheet evaluate a cell as a formula: `=`, `+`, `-`, `@`, TAB, CR. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** Record separator: CRLF after every record, the last one included. */
export const CRLF = '\r\n';

/**
 * One cell as written: bare unless it contains `,`, `"`, CR or LF; then enclosed in double
 * quotes with every `"` doubled. The empty string stays bare (no `""`).
 * Example: `csvCell('a"b')` is `'"a""b"'`; `csvCell('a b')` is `'a b'`.
 */
export function csvCell(value: string): string {
  return NEEDS_QUOTES.test(value) ? `"${value.replace(QUOTE, '""')}"` : value;
}

/**
 * The formula guard for free-text cells: a value beginning with `=`, `+`, `-`, `@`, TAB or CR
 * gets a leading `'`, so that a spreadsheet shows it as text instead of running it. Applied to
 * the raw value (after sorting, before quoting): `guardFormula('=1+1')` is `"'=1+1"`.
 */
export function guardFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** One record: the cells quoted as needed, joined by `,`, ended by CRLF. */
export function csvRecord(cells: readonly string[]): string {
  let record = '';
  for (let i = 0; i < cells.length; i++) {
    if (i > 0) record += ',';
    record += csvCell(cells[i] as string);
  }
  return record + CRLF;
}
