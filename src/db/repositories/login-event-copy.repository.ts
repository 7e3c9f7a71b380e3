import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { CompiledQuery, sql, type Transaction } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../database.ts';
import { type InsertLoginEventsResult, type NewLoginEvent, storeFrom } from './login-event.repository.ts';

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
