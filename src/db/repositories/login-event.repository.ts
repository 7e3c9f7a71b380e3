import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../database.ts';
import type { TenantDay } from './day-revision.repository.ts';

/** A login event ready to store: its tenant exists and `day` is the tenant-local day of `occurredAtMs`. */
export interface NewLoginEvent {
  tenantId: string;
  eventId: string;
  userId: string;
  /** ms since the epoch (UTC). */
  occurredAtMs: number;
  /** 'YYYY-MM-DD', tenant-local. */
  day: string;
}

export interface InsertLoginEventsResult {
  /** 0-based positions (in the input) of the events NOT inserted because their (tenant, eventId) exists. */
  notInserted: number[];
  /** The tenant-days whose activity changed. */
  touched: TenantDay[];
}

/** How rows of a batch add to an existing activity row (both write paths): first, last, count. */
const ADD_TO_ACTIVITY = sql`ON CONFLICT (tenant_id, day, user_id) DO UPDATE SET
  first_login_at = least(daily_activity.first_login_at, excluded.first_login_at),
  last_login_at = greatest(daily_activity.last_login_at, excluded.last_login_at),
  login_count = daily_activity.login_count + excluded.login_count,
  updated_at = now()`;

/**
 * Stores the events whose (tenant, eventId) is new and adds exactly those to the daily activity
 * (first, last, count) in the same statement, so that concurrent deliveries of the same event
 * (two connections, two processes) count it once: `ON CONFLICT DO NOTHING` waits for a competing
 * uncommitted insert of the key and skips it if that commits. Open rejects of an inserted
 * (tenant, eventId) are marked resolved. The input must not repeat a key. Rows are locked in key
 * order, so concurrent batches cannot deadlock. One round trip for the whole batch.
 */
export async function insertLoginEvents(
  db: Db,
  events: readonly NewLoginEvent[],
  source: string,
  receivedAt: Date,
): Promise<InsertLoginEventsResult> {
  if (events.length === 0) return { notInserted: [], touched: [] };
  return storeFrom(db, eventsInput(events), source, receivedAt);
}

/**
 * The events as the relation (tenant_id, event_id, user_id, occurred_at, day, ord) of an
 * `unnest` of arrays, `ord` 1-based. Instants as integer ms: cheaper to encode than RFC 3339
 * text, exact (see the COPY path).
 */
function eventsInput(events: readonly NewLoginEvent[]): RawBuilder<unknown> {
  const n = events.length;
  const tenants = new Array<string>(n);
  const ids = new Array<string>(n);
  const users = new Array<string>(n);
  const instants = new Array<number>(n);
  const days = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const e = events[i] as NewLoginEvent;
    tenants[i] = e.tenantId;
    ids[i] = e.eventId;
    users[i] = e.userId;
    instants[i] = e.occurredAtMs;
    days[i] = e.day;
  }
  return sql`
    SELECT tenant_id, event_id, user_id, 'epoch'::timestamptz + ms * interval '1 millisecond' AS occurred_at, day, ord
    FROM unnest(${tenants}::text[], ${ids}::text[], ${users}::text[], ${instants}::bigint[], ${days}::date[])
      WITH ORDINALITY AS x(tenant_id, event_id, user_id, ms, day, ord)`;
}

/**
 * The one statement both write paths share: `input` yields (tenant_id, event_id, user_id,
 * occurred_at, day, ord) with `ord` 1-based and no repeated key (an `unnest` of arrays, or the
 * COPY staging table). New keys are inserted in key order, exactly the inserted rows reach the
 * daily activity, open rejects of the inserted keys are resolved; returns the 0-based positions
 * not inserted and the tenant-days touched. `input` is read up to three times: an `unnest` is
 * materialized once (`materialize`), a staging table is cheaper read again (a copy of every
 * row into a tuplestore cost ~1.2 µs per event, measured in docs/performance/ingest.md).
 */
export async function storeFrom(
  db: Db,
  input: RawBuilder<unknown>,
  source: string,
  receivedAt: Date,
  materialize = true,
): Promise<InsertLoginEventsResult> {
  const { rows } = await sql<{
    kind: 'm' | 'd';
    ord: number | null;
    tenant_id: string | null;
    day: string | null;
  }>`
    WITH input AS ${materialize ? sql`MATERIALIZED` : sql`NOT MATERIALIZED`} (${input}),
    ins AS (
      INSERT INTO login_events (tenant_id, event_id, user_id, occurred_at, day, source, received_at)
      SELECT tenant_id, event_id, user_id, occurred_at, day, ${source}, ${receivedAt}::timestamptz FROM input
      ORDER BY tenant_id COLLATE "C", event_id COLLATE "C"
      ON CONFLICT (tenant_id, event_id) DO NOTHING
      RETURNING tenant_id, event_id, user_id, occurred_at, day
    ),
    activity AS (
      INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
      SELECT tenant_id, day, user_id, min(occurred_at), max(occurred_at), count(*) FROM ins
      GROUP BY tenant_id, day, user_id
      ORDER BY tenant_id COLLATE "C", day, user_id COLLATE "C"
      ${ADD_TO_ACTIVITY}
    ),
    resolved AS (
      UPDATE ingest_rejects r SET resolved_at = ${receivedAt}::timestamptz FROM ins
      WHERE r.resolved_at IS NULL AND r.tenant_id = ins.tenant_id AND r.event_id = ins.event_id
    )
    SELECT 'm' AS kind, (i.ord - 1)::int AS ord, NULL::text AS tenant_id, NULL::text AS day FROM input i
    -- The count comparison is a one-time filter: when every row was inserted (the common case)
    -- the anti-join and its two sorts of the whole batch are skipped.
    WHERE (SELECT count(*) FROM ins) < (SELECT count(*) FROM input)
      AND NOT EXISTS (SELECT 1 FROM ins WHERE ins.tenant_id = i.tenant_id AND ins.event_id = i.event_id)
    UNION ALL
    SELECT DISTINCT 'd', NULL::int, tenant_id, day::text FROM ins
  `.execute(db);
  const notInserted: number[] = [];
  const touched: TenantDay[] = [];
  for (const r of rows) {
    if (r.kind === 'm') notInserted.push(r.ord as number);
    else touched.push({ tenantId: r.tenant_id as string, day: r.day as string });
  }
  return { notInserted, touched };
}

const NEEDS_QUOTE_ESCAPE = /["\\]/;

/** An element of an array literal: quoted, `"` and `\\` escaped. */
const quotedElement = (v: string) => `"${NEEDS_QUOTE_ESCAPE.test(v) ? v.replace(/["\\]/g, '\\$&') : v}"`;

/**
 * An array literal of elements already rendered (`{1,2}`; text elements by `quotedElement`):
 * one parameter instead of pg's per-element rendering. `join` makes a flat string (one built by
 * `+=` is a rope the driver flattens again).
 */
const arrayLiteral = (elements: readonly (string | number)[]) => `{${elements.join(',')}}`;

/** An array literal of text values (`{"a","b"}`). */
const textArray = (values: readonly string[]) => arrayLiteral(values.map(quotedElement));

/**
 * Inserts the events whose key is new by `INSERT ... ON CONFLICT DO NOTHING` in key order
 * (waiting for a competing uncommitted insert of a key, skipping it if that commits), WITHOUT
 * the daily activity: the caller adds the inserted rows to it (`addDailyActivity`). Returns the
 * 0-based positions not inserted. For the few rows the COPY path holds back.
 */
export async function insertLoginEventKeys(
  db: Db,
  events: readonly NewLoginEvent[],
  source: string,
  receivedAt: Date,
): Promise<number[]> {
  if (events.length === 0) return [];
  const { rows } = await sql<{ ord: number }>`
    WITH input AS MATERIALIZED (${eventsInput(events)}),
    ins AS (
      INSERT INTO login_events (tenant_id, event_id, user_id, occurred_at, day, source, received_at)
      SELECT tenant_id, event_id, user_id, occurred_at, day, ${source}, ${receivedAt}::timestamptz FROM input
      ORDER BY tenant_id COLLATE "C", event_id COLLATE "C"
      ON CONFLICT (tenant_id, event_id) DO NOTHING
      RETURNING tenant_id, event_id
    )
    SELECT (i.ord - 1)::int AS ord FROM input i
    WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.tenant_id = i.tenant_id AND ins.event_id = i.event_id)
  `.execute(db);
  return rows.map((r) => r.ord);
}

/**
 * Adds rows just inserted into login_events (by the caller, in this transaction) to the daily
 * activity: aggregated here per (tenant, day, user) (first, last, count), then ONE upsert in
 * key order, the same `ON CONFLICT DO UPDATE` as `storeFrom`; marks the open rejects of the
 * inserted keys resolved (the UPDATE runs only for the tenants that have an open reject with an
 * eventId: one probe of `ingest_rejects_unresolved_event` per tenant, in the same statement as
 * the upsert). Returns the tenant-days touched.
 */
export async function addDailyActivity(
  db: Db,
  inserted: readonly NewLoginEvent[],
  resolvedAt: Date,
): Promise<TenantDay[]> {
  if (inserted.length === 0) return [];
  // tenant -> day -> user -> [first, last, count]: no key string per event.
  const byTenant = new Map<string, Map<string, Map<string, [number, number, number]>>>();
  for (const e of inserted) {
    let days = byTenant.get(e.tenantId);
    if (!days) {
      days = new Map();
      byTenant.set(e.tenantId, days);
    }
    let users = days.get(e.day);
    if (!users) {
      users = new Map();
      days.set(e.day, users);
    }
    const a = users.get(e.userId);
    if (a === undefined) users.set(e.userId, [e.occurredAtMs, e.occurredAtMs, 1]);
    else {
      if (e.occurredAtMs < a[0]) a[0] = e.occurredAtMs;
      if (e.occurredAtMs > a[1]) a[1] = e.occurredAtMs;
      a[2] += 1;
    }
  }
  // The six columns as array literals (no per-element rendering by pg): a tenant is quoted once,
  // a day ('YYYY-MM-DD') needs no quotes.
  const tenants: string[] = [];
  const days: string[] = [];
  const users: string[] = [];
  const firsts: number[] = [];
  const lasts: number[] = [];
  const counts: number[] = [];
  const touched: TenantDay[] = [];
  for (const [tenantId, ofTenant] of byTenant) {
    const tenant = quotedElement(tenantId);
    for (const [day, ofDay] of ofTenant) {
      touched.push({ tenantId, day });
      for (const [userId, a] of ofDay) {
        tenants.push(tenant);
        days.push(day);
        users.push(quotedElement(userId));
        firsts.push(a[0]);
        lasts.push(a[1]);
        counts.push(a[2]);
      }
    }
  }
  const tenantIds = [...byTenant.keys()];
  const { rows } = await sql<{ tenant_id: string }>`
    WITH activity AS (
      INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
      SELECT t, d, u, 'epoch'::timestamptz + lo * interval '1 millisecond', 'epoch'::timestamptz + hi * interval '1 millisecond', n
      FROM unnest(${arrayLiteral(tenants)}::text[], ${arrayLiteral(days)}::date[], ${arrayLiteral(users)}::text[],
        ${arrayLiteral(firsts)}::bigint[], ${arrayLiteral(lasts)}::bigint[], ${arrayLiteral(counts)}::int[]) AS x(t, d, u, lo, hi, n)
      ORDER BY t COLLATE "C", d, u COLLATE "C"
      ${ADD_TO_ACTIVITY}
    )
    SELECT t AS tenant_id FROM unnest(${tenantIds}::text[]) AS t
    WHERE EXISTS (SELECT 1 FROM ingest_rejects r WHERE r.resolved_at IS NULL AND r.tenant_id = t AND r.event_id IS NOT NULL)
  `.execute(db);
  if (rows.length > 0) {
    const open = new Set(rows.map((r) => r.tenant_id));
    const keys = inserted.filter((e) => open.has(e.tenantId));
    await sql`
      UPDATE ingest_rejects r SET resolved_at = ${resolvedAt}::timestamptz
      FROM unnest(${textArray(keys.map((e) => e.tenantId))}::text[], ${textArray(keys.map((e) => e.eventId))}::text[]) AS k(t, e)
      WHERE r.resolved_at IS NULL AND r.tenant_id = k.t AND r.event_id = k.e
    `.execute(db);
  }
  return touched;
}

export interface StoredLoginEvent {
  tenantId: string;
  eventId: string;
  userId: string;
  occurredAtMs: number;
}

/** The stored events with these keys (to tell a repeat from a conflicting reuse of an eventId). */
export async function findLoginEvents(
  db: Db,
  keys: readonly { tenantId: string; eventId: string }[],
): Promise<StoredLoginEvent[]> {
  if (keys.length === 0) return [];
  const { rows } = await sql<{ tenant_id: string; event_id: string; user_id: string; occurred_at: Date }>`
    SELECT e.tenant_id, e.event_id, e.user_id, e.occurred_at FROM login_events e
    JOIN unnest(${keys.map((k) => k.tenantId)}::text[], ${keys.map((k) => k.eventId)}::text[]) AS k(t, e)
      ON e.tenant_id = k.t AND e.event_id = k.e
  `.execute(db);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    eventId: r.event_id,
    userId: r.user_id,
    occurredAtMs: r.occurred_at.getTime(),
  }));
}
