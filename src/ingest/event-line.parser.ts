import { hintOf, type IngestItem, type ItemOrigin } from './event-ingest.service.ts';
import { jsonText } from './json-text.ts';
import { type ParsedEvent, parseLoginEvent } from './login-event.schema.ts';

export type EventFormat = 'ndjson' | 'csv';

export const CSV_HEADER = ['event_id', 'tenant_id', 'user_id', 'occurred_at'] as const;

/**
 * One event already decoded from a JSON body (an HTTP batch, a stream message's array) -> an
 * ingest item whose raw payload is the value's JSON text and whose location is `location()`,
 * both rendered only when read: for a reject (or the first of a conflicting repeat), never for
 * an accepted event (a `JSON.stringify` and a string per event saved). Reads render the same
 * text each time (the value is not changed after decoding). `origin`: the HTTP request the event
 * came with, shared by its events (undefined for the stream).
 */
export function decodedEventItem(value: unknown, location: () => string, origin?: ItemOrigin): IngestItem {
  return new DecodedEventItem(value, location, 0, '', origin);
}

/**
 * `decodedEventItem` located at `${prefix}${index}${suffix}` (e.g. `http batch index 7`), the
 * string rendered only when read: no closure and no string per event.
 */
export function decodedEventItemAt(
  value: unknown,
  prefix: string,
  index: number,
  suffix: string,
  origin?: ItemOrigin,
): IngestItem {
  return new DecodedEventItem(value, prefix, index, suffix, origin);
}

/** One class for every decoded event (one shape; the getters live on the prototype, not per item). */
class DecodedEventItem implements IngestItem {
  readonly parsed: ParsedEvent;
  readonly origin: ItemOrigin | undefined;
  readonly hint: IngestItem['hint'];
  readonly #value: unknown;
  readonly #where: string | (() => string);
  readonly #index: number;
  readonly #suffix: string;
  #raw: string | undefined;

  constructor(
    value: unknown,
    where: string | (() => string),
    index: number,
    suffix: string,
    origin?: ItemOrigin,
  ) {
    this.parsed = parseLoginEvent(value);
    this.origin = origin;
    this.hint = this.parsed.ok ? undefined : hintOf(value);
    this.#value = value;
    this.#where = where;
    this.#index = index;
    this.#suffix = suffix;
    this.#raw = undefined;
  }

  get raw(): string {
    this.#raw ??= jsonText(this.#value);
    return this.#raw;
  }

  get location(): string {
    const where = this.#where;
    return typeof where === 'string' ? `${where}${this.#index}${this.#suffix}` : where();
  }
}

/**
 * An item read from line `lineNo` of file `name`: its location (`NAME:LINE`) is rendered when
 * read, i.e. for a reject, never a string per accepted line. One shape for every line.
 */
export class FileLineItem implements IngestItem {
  readonly raw: string | Uint8Array;
  readonly parsed: ParsedEvent;
  readonly hint: IngestItem['hint'];
  readonly name: string;
  readonly lineNo: number;

  constructor(
    raw: string | Uint8Array,
    parsed: ParsedEvent,
    name: string,
    lineNo: number,
    hint?: IngestItem['hint'],
  ) {
    this.raw = raw;
    this.parsed = parsed;
    this.name = name;
    this.lineNo = lineNo;
    this.hint = hint;
  }

  get location(): string {
    return `${this.name}:${this.lineNo}`;
  }
}

/** One NDJSON line -> an ingest item (never throws: bad lines become rejects). */
export function ndjsonItem(text: string, location: string): IngestItem {
  const item = ndjsonLineItem(text, location, 0);
  return { raw: item.raw, location, parsed: item.parsed, ...(item.hint ? { hint: item.hint } : {}) };
}

/** Line `lineNo` of NDJSON file `name` -> an ingest item (never throws: bad lines become rejects). */
export function ndjsonLineItem(text: string, name: string, lineNo: number): FileLineItem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return new FileLineItem(
      text,
      { ok: false, reason: `not valid JSON: ${(error as Error).message}` },
      name,
      lineNo,
    );
  }
  const parsed = parseLoginEvent(value);
  return new FileLineItem(text, parsed, name, lineNo, parsed.ok ? undefined : hintOf(value));
}

/**
 * Splits one CSV record (RFC 4180: fields may be double-quoted, `""` is a quote inside quotes).
 * A record must fit on one line (event fields never contain line breaks). Undefined when the
 * quoting is broken.
 */
export function splitCsvLine(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',');
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < line.length && line[i] !== ',') return undefined;
      fields.push(value);
      i += 1;
    } else {
      const c = line.indexOf(',', i);
      const end = c < 0 ? line.length : c;
      fields.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return fields;
}

/** The column positions of a CSV header line; throws a message when a column is missing. */
export function csvColumns(header: string): number[] {
  const names = (splitCsvLine(header.replace(/^\uFEFF/, '')) ?? []).map((h) => h.trim().toLowerCase());
  const missing = CSV_HEADER.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new Error(
      `the CSV header must name the columns ${CSV_HEADER.join(',')} (missing: ${missing.join(', ')})`,
    );
  }
  return CSV_HEADER.map((c) => names.indexOf(c));
}

/** Line `lineNo` of CSV file `name` -> an ingest item, given the header's column positions. */
export function csvItem(
  text: string,
  name: string,
  lineNo: number,
  columns: readonly number[],
): FileLineItem {
  const fields = splitCsvLine(text);
  if (!fields)
    return new FileLineItem(
      text,
      { ok: false, reason: 'not a valid CSV record (broken quoting)' },
      name,
      lineNo,
    );
  if (fields.length <= Math.max(...columns)) {
    const reason = `expected ${CSV_HEADER.length} fields, got ${fields.length}`;
    return new FileLineItem(text, { ok: false, reason }, name, lineNo);
  }
  const [e, t, u, o] = columns.map((c) => fields[c]);
  const value = { eventId: e, tenantId: t, userId: u, occurredAt: o };
  const parsed = parseLoginEvent(value);
  return new FileLineItem(text, parsed, name, lineNo, parsed.ok ? undefined : hintOf(value));
}
