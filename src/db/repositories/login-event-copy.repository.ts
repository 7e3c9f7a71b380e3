import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { CompiledQuery, sql, type Transaction } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../database.ts';
import {
  addDailyActivity,
  type InsertLoginEventsResult,
  insertLoginEventKeys,
  type NewLoginEvent,
  storeFrom,
} from './login-event.repository.ts';

/** Rows per write to the COPY stream: big enough to amortise the call, small enough to stay flat. */
const ROWS_PER_CHUNK = 2_000;
const NEEDS_ESCAPE = /[\\\t\n\r]/;

/** A value in COPY's text format: backslash, tab and line breaks escaped (`\N` is never produced). */
export function copyText(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * Same contract as `insertLoginEvents` (new keys stored once, exactly those rolled up into the
 * daily activity, open rejects resolved, concurrent deliveries counted once), but the batch
 * reaches the server by `COPY ... FROM STDIN` into a per-session temp staging table instead of
 * `unnest` arrays: cheaper to encode in Node and to decode in the server for big batches. Then
 * ONE `INSERT ... SELECT FROM staging ON CONFLICT DO NOTHING` does the judging, as on the
 * `unnest` path. Real PostgreSQL only (PGlite has no COPY FROM STDIN); must run inside `trx`,
 * whose commit empties the staging table (`ON COMMIT DELETE ROWS`).
 */
export async function insertLoginEventsByCopy(
  trx: Transaction<Database>,
  events: readonly NewLoginEvent[],
  source: string,
  receivedAt: Date,
): Promise<InsertLoginEventsResult> {
  if (events.length === 0) return { notInserted: [], touched: [] };
  // One round trip (no parameters: simple protocol). work_mem for this transaction only: the
  // statement sorts the batch three times, and a 50k batch overflows the 4 MB default to disk.
  await sql`
    SET LOCAL work_mem = '32MB';
    CREATE TEMP TABLE IF NOT EXISTS login_event_staging (
      ord int NOT NULL, tenant_id text COLLATE "C" NOT NULL, event_id text COLLATE "C" NOT NULL,
      user_id text NOT NULL, occurred_ms bigint NOT NULL, day date NOT NULL
    ) ON COMMIT DELETE ROWS`.execute(trx);
  const stream = copyFrom(
    'COPY login_event_staging (ord, tenant_id, event_id, user_id, occurred_ms, day) FROM STDIN',
  );
  const done = finished(stream);
  // Kysely hands `sql` to pg's `client.query` unchanged, and pg runs any object with `submit`
  // (what pg-copy-streams returns) on the transaction's own connection; the COPY is then
  // fed through the stream. Nothing else reaches this connection until the stream finishes.
  await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
  let chunk = '';
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as NewLoginEvent;
    chunk += `${i + 1}\t${copyText(e.tenantId)}\t${copyText(e.eventId)}\t${copyText(e.userId)}\t${e.occurredAtMs}\t${e.day}\n`;
    if ((i + 1) % ROWS_PER_CHUNK === 0) {
      if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
      chunk = '';
    }
  }
  stream.end(chunk);
  await done;
  return storeFrom(
    trx,
    // Instants travel as integer ms (cheaper to write in Node and to read in the server than
    // RFC 3339 text); ms * 1 ms is exact in an interval (microseconds, far below 2^53).
    sql`SELECT tenant_id, event_id, user_id, 'epoch'::timestamptz + occurred_ms * interval '1 millisecond' AS occurred_at,
      day, ord FROM login_event_staging`,
    source,
    receivedAt,
    false,
  );
}

/** What the optimistic COPY gives up on: a key already stored or in flight elsewhere (23505), a deadlock (40P01). */
const GIVE_UP = new Set(['23505', '40P01']);

const MS_PER_DAY = 86_400_000;
/** PostgreSQL's epoch for binary dates and timestamps: 2000-01-01 00:00 UTC. */
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TWO_32 = 2 ** 32;
/** Bytes per buffer handed to the COPY stream. */
const BINARY_CHUNK = 1 << 18;
/** The binary COPY header: signature, flags (none), header extension length (0). */
const BINARY_HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);

/**
 * Rows of login_events in COPY's **binary** format (a field count, then each field's length and
 * bytes; text as UTF-8, `date` as int32 days and `timestamptz` as int64 microseconds since
 * 2000-01-01), written straight into buffers: no text to render in Node (an instant as RFC 3339
 * text cost ~0.3-2.8 µs) and none to parse in the server. Instants are integer ms of years
 * 2000-9999, so ms * 1000 is exact in a double.
 */
export class BinaryLoginEventRows {
  readonly #chunks: Buffer[] = [];
  readonly #days = new Map<string, number>();
  readonly #source: string;
  readonly #receivedHi: number;
  readonly #receivedLo: number;
  #buf = Buffer.allocUnsafe(BINARY_CHUNK);
  #off = 0;

  constructor(source: string, receivedAt: Date) {
    this.#source = source;
    const us = (receivedAt.getTime() - PG_EPOCH_MS) * 1000;
    this.#receivedHi = Math.floor(us / TWO_32);
    this.#receivedLo = us - this.#receivedHi * TWO_32;
    BINARY_HEADER.copy(this.#buf);
    this.#off = BINARY_HEADER.length;
  }

  /** Appends a row; returns the buffers filled so far (to write to the stream), emptied. */
  add(e: NewLoginEvent): Buffer[] {
    // At most 3 UTF-8 bytes per UTF-16 unit; 2 + 7 lengths + 8 + 4 + 8 bytes of the rest.
    const need =
      3 * (e.tenantId.length + e.eventId.length + e.userId.length + this.#source.length) + 2 + 28 + 20;
    if (this.#off + need > this.#buf.length) this.#flush(need);
    const buf = this.#buf;
    let off = this.#off;
    buf.writeInt16BE(7, off);
    off = this.#text(buf, off + 2, e.tenantId);
    off = this.#text(buf, off, e.eventId);
    off = this.#text(buf, off, e.userId);
    const us = (e.occurredAtMs - PG_EPOCH_MS) * 1000;
    const hi = Math.floor(us / TWO_32);
    buf.writeInt32BE(8, off);
    buf.writeInt32BE(hi, off + 4);
    buf.writeUInt32BE(us - hi * TWO_32, off + 8);
    let day = this.#days.get(e.day);
    if (day === undefined) {
      day = (Date.parse(`${e.day}T00:00:00Z`) - PG_EPOCH_MS) / MS_PER_DAY;
      this.#days.set(e.day, day);
    }
    buf.writeInt32BE(4, off + 12);
    buf.writeInt32BE(day, off + 16);
    off = this.#text(buf, off + 20, this.#source);
    buf.writeInt32BE(8, off);
    buf.writeInt32BE(this.#receivedHi, off + 4);
    buf.writeUInt32BE(this.#receivedLo, off + 8);
    this.#off = off + 12;
    return this.#chunks.splice(0);
  }

  /** The rest of the rows and the trailer. */
  end(): Buffer[] {
    if (this.#off + 2 > this.#buf.length) this.#flush(2);
    this.#buf.writeInt16BE(-1, this.#off);
    this.#chunks.push(this.#buf.subarray(0, this.#off + 2));
    this.#off = 0;
    return this.#chunks.splice(0);
  }

  #text(buf: Buffer, off: number, value: string): number {
    const n = buf.write(value, off + 4);
    buf.writeInt32BE(n, off);
    return off + 4 + n;
  }

  #flush(need: number): void {
    if (this.#off > 0) this.#chunks.push(this.#buf.subarray(0, this.#off));
    this.#buf = Buffer.allocUnsafe(Math.max(BINARY_CHUNK, need));
    this.#off = 0;
  }
}

/**
 * The fast path of a big batch on PostgreSQL: the events are COPYed **straight into
 * login_events** (heap multi-insert, one index descent per row: the floor's own path) inside a
 * savepoint, without staging table, `INSERT ... SELECT` or speculative insertion. Nothing is
 * probed first (a probe of the keys costs a second index descent per row: as much as it saves,
 * docs/performance/ingest.md): the primary key decides. When a key is stored already, or
 * inserted by a concurrent transaction that commits (unique_violation), or the COPY deadlocks
 * with one, the savepoint is rolled back (nothing of the COPY stays) and `undefined` is returned:
 * the caller then stores the batch by the judging statement (`insertLoginEventsByCopy`).
 *
 * `heldBack[k]`: candidate k's key is in a batch of this process that is being stored on another
 * connection (known to the caller); a COPY of it would wait for that batch and then fail. Those
 * rows go by `INSERT ... ON CONFLICT DO NOTHING` after the COPY instead (it waits and skips).
 * Then the daily activity of exactly the inserted rows (aggregated here per tenant, day and user)
 * in ONE upsert in key order, the open rejects of the inserted keys resolved, as on the other paths.
 * All login_events writes come before any activity write and each write runs in key order
 * (but the COPY: its waits end in a unique violation or a deadlock error, both given up), so
 * two batches cannot deadlock on the activity.
 */
export async function insertLoginEventsDirect(
  trx: Transaction<Database>,
  events: readonly NewLoginEvent[],
  source: string,
  receivedAt: Date,
  heldBack?: readonly boolean[],
): Promise<InsertLoginEventsResult | undefined> {
  if (events.length === 0) return { notInserted: [], touched: [] };
  await sql`SAVEPOINT login_events_copy`.execute(trx);
  const stream = copyFrom(
    'COPY login_events (tenant_id, event_id, user_id, occurred_at, day, source, received_at) FROM STDIN (FORMAT binary)',
  );
  const done = finished(stream);
  done.catch(() => {}); // awaited below; a failure must not be an unhandled rejection meanwhile
  const rows = new BinaryLoginEventRows(source, receivedAt);
  try {
    await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
    for (let i = 0; i < events.length; i++) {
      if (heldBack?.[i]) continue;
      for (const chunk of rows.add(events[i] as NewLoginEvent))
        if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
    }
    for (const chunk of rows.end()) stream.write(chunk);
    stream.end();
    await done;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !GIVE_UP.has(code)) throw error;
    await sql`ROLLBACK TO SAVEPOINT login_events_copy`.execute(trx);
    return undefined;
  }
  await sql`RELEASE SAVEPOINT login_events_copy`.execute(trx);
  let inserted = events;
  let notInserted: number[] = [];
  if (heldBack?.includes(true)) {
    const held: number[] = [];
    for (let i = 0; i < events.length; i++) if (heldBack[i]) held.push(i);
    const fromHeld = await insertLoginEventKeys(
      trx,
      held.map((i) => events[i] as NewLoginEvent),
      source,
      receivedAt,
    );
    notInserted = fromHeld.map((k) => held[k] as number);
    if (notInserted.length > 0) {
      const skip = new Set(notInserted);
      inserted = events.filter((_e, i) => !skip.has(i));
    }
  }
  return { notInserted, touched: await addDailyActivity(trx, inserted, receivedAt) };
}
