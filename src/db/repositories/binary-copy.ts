/** 2000-01-01T00:00:00Z, PostgreSQL's epoch for binary timestamps, in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
const TWO_32 = 2 ** 32;
const MS_PER_DAY = 86_400_000;
/** Up to this many UTF-16 code units a field is copied in JS (`BinaryCopyRows`). */
const SHORT_FIELD = 64;
const BINARY_HEADER = Buffer.from([
  ...Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
  ...[0, 0, 0, 0], // flags
  ...[0, 0, 0, 0], // header extension length
]);

/**
 * Rows of `COPY ... FROM STDIN (FORMAT binary)` written straight into bytes: each field its
 * length and its value, so the server neither splits nor unescapes the text nor parses the
 * timestamps (a tenth of the backend's CPU per settings version in text format, and no RFC 3339
 * text to render per login event: docs/performance/settings.md and ingest.md). json goes as its
 * text, a date as int32 days since 2000-01-01. The buffer doubles
 * when full; `bytes()` adds the header and the trailer (empty when no row was added). Used by
 * the settings import (new users' versions and intervals) and the file import's direct COPY
 * into login_events.
 */
export class BinaryCopyRows {
  #buf = Buffer.allocUnsafe(64 * 1024);
  #len = BINARY_HEADER.length;
  #rows = 0;
  #lastDay = '';
  #lastDays = 0;

  constructor() {
    BINARY_HEADER.copy(this.#buf, 0);
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(grown, 0, 0, this.#len);
    this.#buf = grown;
  }

  /** Starts a row of `fields` fields. */
  row(fields: number): void {
    this.#room(2);
    this.#buf.writeInt16BE(fields, this.#len);
    this.#len += 2;
    this.#rows += 1;
  }

  /** A text field (NULL when null): text, names, and json (whose binary form is its text). */
  text(value: string | null): void {
    if (value === null) {
      this.#room(4);
      this.#buf.writeInt32BE(-1, this.#len);
      this.#len += 4;
      return;
    }
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    this.#room(5 + value.length * 3);
    const at = this.#len;
    let len = at + 4;
    len += this.#utf8(value, len);
    this.#buf.writeInt32BE(len - at - 4, at);
    this.#len = len;
  }

  /**
   * Writes `value` as UTF-8 at `at`, returning its length in bytes. A short value (ids, emails,
   * names, license and billing words) is copied code unit by code unit while it is ASCII:
   * cheaper than a native `Buffer.write` call per field.
   */
  #utf8(value: string, at: number): number {
    const n = value.length;
    if (n > SHORT_FIELD) return this.#buf.write(value, at, 'utf8');
    const buf = this.#buf;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return i + buf.write(value.slice(i), at + i, 'utf8');
      buf[at + i] = c;
    }
    return n;
  }

  bool(value: boolean): void {
    this.#room(5);
    this.#buf.writeInt32BE(1, this.#len);
    this.#buf[this.#len + 4] = value ? 1 : 0;
    this.#len += 5;
  }

  /**
   * A timestamptz: microseconds since 2000-01-01 as a big-endian int64 (`null`: infinity). The
   * product by 1,000 is split in 32-bit halves so that it stays exact beyond 2^53.
   */
  timestamp(ms: number | null): void {
    this.#room(12);
    this.#buf.writeInt32BE(8, this.#len);
    if (ms === null) {
      this.#buf.writeInt32BE(0x7fffffff, this.#len + 4);
      this.#buf.writeUInt32BE(0xffffffff, this.#len + 8);
    } else {
      const d = ms - PG_EPOCH_MS;
      const dHi = Math.floor(d / TWO_32);
      const loTimes = (d - dHi * TWO_32) * 1000;
      const carry = Math.floor(loTimes / TWO_32);
      this.#buf.writeInt32BE(dHi * 1000 + carry, this.#len + 4);
      this.#buf.writeUInt32BE(loTimes - carry * TWO_32, this.#len + 8);
    }
    this.#len += 12;
  }

  /** A `date`: `day` is 'YYYY-MM-DD' (days since 2000-01-01 as a big-endian int32). */
  date(day: string): void {
    // Rows of one batch mostly share their day: parsed once per run of equal days.
    if (day !== this.#lastDay) {
      this.#lastDay = day;
      this.#lastDays = (Date.parse(`${day}T00:00:00Z`) - PG_EPOCH_MS) / MS_PER_DAY;
    }
    this.#room(8);
    this.#buf.writeInt32BE(4, this.#len);
    this.#buf.writeInt32BE(this.#lastDays, this.#len + 4);
    this.#len += 8;
  }

  /** How many rows were added (none: there is nothing to COPY). */
  get rows(): number {
    return this.#rows;
  }

  bytes(): Buffer {
    if (this.#rows === 0) return Buffer.alloc(0);
    this.#room(2);
    this.#buf.writeInt16BE(-1, this.#len);
    return this.#buf.subarray(0, this.#len + 2);
  }
}

/** A binary COPY of no row: the header and the trailer. */
export const EMPTY_BINARY_COPY = Buffer.concat([BINARY_HEADER, Buffer.from([0xff, 0xff])]);
