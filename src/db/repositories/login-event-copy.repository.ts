import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { CompiledQuery, sql, type Transaction } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../database.ts';
import { BinaryCopyRows, EMPTY_BINARY_COPY } from './binary-copy.ts';
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

/** What `insertLoginEventsDirect` holds back from its COPY, and its signals to the batches beside it. */
export interface DirectCopyHold {
  held: readonly boolean[];
  /** Called once this batch's COPY has ended (rows in or given up). */
  copied(): void;
  /** Settles when the held rows may be inserted. */
  beforeHeld(): Promise<void>;
}

/** What the optimistic COPY gives up on: a key already stored or in flight elsewhere (23505), a deadlock (40P01). */
const GIVE_UP = new Set(['23505', '40P01']);

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
 * `hold.held[k]`: candidate k's key is in a batch of this process that is being stored on another
 * connection (known to the caller); a COPY of it would wait for that batch and then fail. Those
 * rows go by `INSERT ... ON CONFLICT DO NOTHING` after the COPY instead (it waits and skips),
 * once `hold.beforeHeld()` settles (the caller's word that the other batch's COPY has ended, so
 * that these rows never reach the table before that COPY does and make it fail). `hold.copied()`
 * is called when this batch's own COPY has ended, rows in or given up. Waiting for the other
 * COPY cannot deadlock: this batch's COPY holds none of its keys, and nothing else is locked yet.
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
  hold?: DirectCopyHold,
): Promise<InsertLoginEventsResult | undefined> {
  const heldBack = hold?.held;
  if (events.length === 0) return { notInserted: [], touched: [] };
  await sql`SAVEPOINT login_events_copy`.execute(trx);
  const stream = copyFrom(
    'COPY login_events (tenant_id, event_id, user_id, occurred_at, day, source, received_at) FROM STDIN (FORMAT binary)',
  );
  const done = finished(stream);
  done.catch(() => {}); // awaited below; a failure must not be an unhandled rejection meanwhile
  // The whole batch in one buffer (~70 bytes a row: under 1 MB for the file import's 10,000).
  const rows = new BinaryCopyRows();
  const received = receivedAt.getTime();
  for (let i = 0; i < events.length; i++) {
    if (heldBack?.[i]) continue;
    const e = events[i] as NewLoginEvent;
    rows.row(7);
    rows.text(e.tenantId);
    rows.text(e.eventId);
    rows.text(e.userId);
    rows.timestamp(e.occurredAtMs);
    rows.date(e.day);
    rows.text(source);
    rows.timestamp(received);
  }
  try {
    await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
    // Binary COPY needs its header even without rows (every candidate held back).
    stream.end(rows.rows > 0 ? rows.bytes() : EMPTY_BINARY_COPY);
    await done;
  } catch (error) {
    hold?.copied();
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !GIVE_UP.has(code)) throw error;
    await sql`ROLLBACK TO SAVEPOINT login_events_copy`.execute(trx);
    return undefined;
  }
  hold?.copied();
  await sql`RELEASE SAVEPOINT login_events_copy`.execute(trx);
  let inserted = events;
  let notInserted: number[] = [];
  if (heldBack?.includes(true)) {
    const held: number[] = [];
    for (let i = 0; i < events.length; i++) if (heldBack[i]) held.push(i);
    await hold?.beforeHeld();
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
