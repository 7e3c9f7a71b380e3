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

const QUOTE_BYTE = 0x22;
const LF_BYTE = 0x0a;

/**
 * Turns the record ends of a CSV byte stream from LF into CRLF, chunk by chunk: an LF outside
 * quotes ends a record and gets a CR before it; an LF inside a quoted field is data and stays as
 * it is. For CSV written by PostgreSQL's `COPY … (FORMAT csv)` (LF after each record, a field with
 * CR or LF always quoted). The quote state carries over chunk boundaries; a doubled `""` toggles
 * it twice, so it needs no special case. Works on the bytes (`indexOf` of `"` and LF), never on
 * strings: per chunk one scan for quotes and one `indexOf` per record, then one copy.
 */
export class CsvRecordEnds {
  #quoted = false;
  #ends = new Int32Array(1024);
  /** Records ended so far. */
  records = 0;

  /** The chunk with CRLF record ends; the chunk itself when it ends no record. */
  push(chunk: Buffer): Buffer {
    const length = chunk.length;
    let ends = this.#ends;
    let count = 0;
    let at = 0;
    let quote = chunk.indexOf(QUOTE_BYTE, 0);
    while (at < length) {
      if (this.#quoted) {
        if (quote < 0) break;
        this.#quoted = false;
        at = quote + 1;
        quote = chunk.indexOf(QUOTE_BYTE, at);
        continue;
      }
      const lf = chunk.indexOf(LF_BYTE, at);
      if (quote >= 0 && (lf < 0 || quote < lf)) {
        this.#quoted = true;
        at = quote + 1;
        quote = chunk.indexOf(QUOTE_BYTE, at);
        continue;
      }
      if (lf < 0) break;
      if (count === ends.length) {
        const grown = new Int32Array(ends.length * 2);
        grown.set(ends);
        this.#ends = ends = grown;
      }
      ends[count++] = lf;
      at = lf + 1;
    }
    if (count === 0) return chunk;
    this.records += count;
    const out = Buffer.allocUnsafe(length + count);
    let from = 0;
    let to = 0;
    for (let i = 0; i < count; i++) {
      const lf = ends[i] as number;
      to += chunk.copy(out, to, from, lf);
      out[to++] = 0x0d;
      out[to++] = LF_BYTE;
      from = lf + 1;
    }
    chunk.copy(out, to, from, length);
    return out;
  }

  /** Throws when the stream ended inside a quoted field (a record cut short). */
  end(): void {
    if (this.#quoted) throw new Error('CSV stream ended inside a quoted field');
  }
}
