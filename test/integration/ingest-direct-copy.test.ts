import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { openPostgres } from '../../src/db/connection.ts';
import { insertLoginEvents } from '../../src/db/repositories/login-event.repository.ts';
import { EventIngestor, type IngestItem } from '../../src/ingest/event-ingest.service.ts';
import { ndjsonItem } from '../../src/ingest/event-line.parser.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

/*
 * The direct COPY into login_events (`insertLoginEventsDirect`) under concurrent deliveries: it
 * gives up (rolls back to its savepoint) when a key is inserted by another transaction that
 * commits, and the batch is then stored by the judging statement; keys of a batch in flight on
 * the same ingestor are held back from the COPY. Every event stored once, activity exact.
 */
const NOW = new Date('2026-11-20T12:00:00Z');
const event = (i: number, prefix = 'e') => ({
  eventId: `${prefix}${i}`,
  tenantId: 'acme',
  userId: `u${i % 37}`,
  occurredAt: new Date(Date.UTC(2026, 10, 1 + (i % 9), i % 24, i % 60)).toISOString(),
});
const itemsOf = (events: object[]): IngestItem[] =>
  events.map((e, i) => ndjsonItem(JSON.stringify(e), `batch:${i}`));

/** daily_activity next to the same roll-up computed from login_events: equal when every event counted once. */
async function activityAgainstEvents(db: DatabaseConnection['db']) {
  const stored = await sql<{ k: string }>`
    SELECT tenant_id || '|' || day || '|' || user_id || '|' || first_login_at || '|' || last_login_at || '|' || login_count AS k
    FROM daily_activity ORDER BY 1`.execute(db);
  const derived = await sql<{ k: string }>`
    SELECT tenant_id || '|' || day || '|' || user_id || '|' || min(occurred_at) || '|' || max(occurred_at) || '|' || count(*) AS k
    FROM login_events GROUP BY tenant_id, day, user_id ORDER BY 1`.execute(db);
  return { stored: stored.rows.map((r) => r.k), derived: derived.rows.map((r) => r.k) };
}

async function eventCount(db: DatabaseConnection['db']): Promise<number> {
  const r = await sql<{ n: string }>`SELECT count(*) AS n FROM login_events`.execute(db);
  return Number(r.rows[0]?.n);
}

/** Resolves once some backend of this database waits for a lock (the COPY waiting for the other insert). */
async function someoneWaitsForALock(db: DatabaseConnection['db']): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = await sql<{ n: string }>`
      SELECT count(*) AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'`.execute(db);
    if (Number(r.rows[0]?.n) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('no backend waited for a lock within 10 s');
}

describe('direct COPY into login_events under concurrent deliveries (PostgreSQL)', () => {
  let a: TestDatabase;
  let b: DatabaseConnection;
  beforeAll(async () => {
    a = await createTestDatabase(4);
    b = await openPostgres(a.url, 4);
    await addTenant(a.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    await addTenant(a.db, { id: 'other', name: 'Other', timezone: 'UTC', currency: 'EUR' });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  /**
   * Another process's transaction inserts `keys` and stays open until `finish` is called
   * (commit, or rollback by throwing): what a concurrent delivery does between our judging and
   * our COPY.
   */
  function concurrentDelivery(events: ReturnType<typeof event>[], commit: boolean) {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let signal = () => {};
    const inserted = new Promise<void>((resolve) => {
      signal = resolve;
    });
    const done = a.db
      .transaction()
      .execute(async (trx) => {
        await insertLoginEvents(
          trx,
          events.map((e) => ({
            tenantId: e.tenantId,
            eventId: e.eventId,
            userId: e.userId,
            occurredAtMs: Date.parse(e.occurredAt),
            day: e.occurredAt.slice(0, 10), // UTC instants before 23:00: the Prague day
          })),
          'stream',
          NOW,
        );
        signal();
        await gate;
        if (!commit) throw new Error('rolled back on purpose');
      })
      .catch((error: Error) => {
        if (commit || error.message !== 'rolled back on purpose') throw error;
      });
    return { inserted, finish: () => release(), done };
  }

  it('gives the COPY up when a concurrent delivery commits one of its keys, and stores each event once', async () => {
    const shared = Array.from({ length: 50 }, (_, i) => event(i, 'c'));
    const other = concurrentDelivery(shared, true);
    await other.inserted;
    const batch = [...Array.from({ length: 2000 }, (_, i) => event(i, 'n')), ...shared];
    const ingestor = new EventIngestor(b.db, () => NOW, { copyMinEvents: 0, directCopy: true });
    const ours = ingestor.ingest(itemsOf(batch), { source: 'file' });
    await someoneWaitsForALock(a.db); // our COPY waits for the other transaction's keys
    other.finish();
    await other.done;
    const r = await ours;
    expect(ingestor.directCopyFallbacks).toBe(1);
    expect(r).toEqual({ accepted: 2000, duplicates: 50, rejected: [] });
    expect(await eventCount(a.db)).toBe(2050);
    const { stored, derived } = await activityAgainstEvents(a.db);
    expect(stored).toEqual(derived);
    // Nothing of the given-up COPY stayed: every event once, with the delivery that stored it.
    const sources = await sql<{ source: string; n: string }>`
      SELECT source, count(*) AS n FROM login_events GROUP BY source ORDER BY source`.execute(a.db);
    expect(sources.rows.map((s) => [s.source, Number(s.n)])).toEqual([
      ['file', 2000],
      ['stream', 50],
    ]);
  });

  it('completes the COPY when the concurrent delivery rolls back', async () => {
    const shared = Array.from({ length: 30 }, (_, i) => event(i, 'r'));
    const other = concurrentDelivery(shared, false);
    await other.inserted;
    const batch = [...Array.from({ length: 1000 }, (_, i) => event(i, 'm')), ...shared];
    const ingestor = new EventIngestor(b.db, () => NOW, { copyMinEvents: 0, directCopy: true });
    const before = await eventCount(a.db);
    const ours = ingestor.ingest(itemsOf(batch), { source: 'file' });
    await someoneWaitsForALock(a.db);
    other.finish();
    await other.done;
    expect(await ours).toEqual({ accepted: 1030, duplicates: 0, rejected: [] });
    expect(ingestor.directCopyFallbacks).toBe(0);
    expect(await eventCount(a.db)).toBe(before + 1030);
    const { stored, derived } = await activityAgainstEvents(a.db);
    expect(stored).toEqual(derived);
  });

  it('holds back the keys of a batch in flight on the same ingestor, without giving up', async () => {
    const ingestor = new EventIngestor(b.db, () => NOW, { copyMinEvents: 0, directCopy: true });
    // Warm up (tenant zones, the server's kind, the pool's connections), so that the two batches
    // below are judged and registered before either reaches the database, as in a running import.
    await Promise.all([
      ingestor.ingest(itemsOf([event(0, 'w')]), { source: 'file' }),
      ingestor.ingest(itemsOf([event(1, 'w')]), { source: 'file' }),
    ]);
    // Two batches in flight (two connections), the second resending 100 events of the first
    // (one with other content: a conflict), as a file with resends across a batch boundary.
    const first = Array.from({ length: 3000 }, (_, i) => event(i, 'h'));
    const second = [
      ...Array.from({ length: 3000 }, (_, i) => event(i, 'k')),
      ...first.slice(0, 99),
      { ...(first[99] as ReturnType<typeof event>), userId: 'someone-else' },
    ];
    const before = await eventCount(a.db);
    const [r1, r2] = await Promise.all([
      ingestor.ingest(itemsOf(first), { source: 'file' }),
      ingestor.ingest(itemsOf(second), { source: 'file' }),
    ]);
    expect(ingestor.directCopyFallbacks).toBe(0);
    expect(r1).toEqual({ accepted: 3000, duplicates: 0, rejected: [] });
    expect(r2.accepted).toBe(3000);
    expect(r2.duplicates).toBe(99);
    expect(r2.rejected.map((x) => x.eventId)).toEqual(['h99']);
    expect(await eventCount(a.db)).toBe(before + 6000);
    const { stored, derived } = await activityAgainstEvents(a.db);
    expect(stored).toEqual(derived);
  });

  it('stores odd ids, instants and days exactly as sent (binary COPY)', async () => {
    const ingestor = new EventIngestor(b.db, () => NOW, { copyMinEvents: 0, directCopy: true });
    const odd = [
      { eventId: 'tab\there', userId: 'back\\slash "q"', occurredAt: '2026-10-25T00:59:59.999Z' }, // Prague: 02:59 CEST
      { eventId: 'line\nbreak\r', userId: 'žluťoučký kůň 🐎', occurredAt: '2026-10-25T01:00:00.000Z' }, // 02:00 CET
      { eventId: 'ünïcødé-€', userId: 'x'.repeat(200), occurredAt: '2000-01-01T00:00:00.001Z' },
      { eventId: 'leap', userId: 'u', occurredAt: '2024-02-29T22:59:59.000Z' }, // 23:59 in Prague
    ].map((o) => ({ ...o, tenantId: 'acme' }));
    const batch = [...odd, ...Array.from({ length: 300 }, (_, i) => event(i, 'o'))];
    const r = await ingestor.ingest(itemsOf(batch), { source: 'stream' });
    expect(r).toEqual({ accepted: 304, duplicates: 0, rejected: [] });
    expect(ingestor.directCopyFallbacks).toBe(0);
    const stored = await sql<{
      event_id: string;
      user_id: string;
      occurred_at: Date;
      day: string;
      source: string;
      received_at: Date;
    }>`
      SELECT event_id, user_id, occurred_at, day::text AS day, source, received_at FROM login_events
      WHERE event_id = ANY(${odd.map((o) => o.eventId)}::text[]) ORDER BY occurred_at`.execute(a.db);
    expect(
      stored.rows.map((x) => [
        x.event_id,
        x.user_id,
        x.occurred_at.toISOString(),
        x.day,
        x.source,
        x.received_at.toISOString(),
      ]),
    ).toEqual([
      ['ünïcødé-€', 'x'.repeat(200), '2000-01-01T00:00:00.001Z', '2000-01-01', 'stream', NOW.toISOString()],
      ['leap', 'u', '2024-02-29T22:59:59.000Z', '2024-02-29', 'stream', NOW.toISOString()],
      ['tab\there', 'back\\slash "q"', '2026-10-25T00:59:59.999Z', '2026-10-25', 'stream', NOW.toISOString()],
      [
        'line\nbreak\r',
        'žluťoučký kůň 🐎',
        '2026-10-25T01:00:00.000Z',
        '2026-10-25',
        'stream',
        NOW.toISOString(),
      ],
    ]);
    const { stored: act, derived } = await activityAgainstEvents(a.db);
    expect(act).toEqual(derived);
  });

  it('resolves the open rejects of the keys it inserts, only those', async () => {
    const ingestor = new EventIngestor(b.db, () => NOW, { copyMinEvents: 0, directCopy: true });
    const late = (id: string, tenantId: string) => ({
      eventId: id,
      tenantId,
      userId: 'u1',
      occurredAt: '2026-11-21T12:00:00.000Z', // a day after NOW: a reject
    });
    const r0 = await ingestor.ingest(itemsOf([late('x1', 'acme'), late('x2', 'acme'), late('x1', 'other')]), {
      source: 'file',
    });
    expect(r0.rejected).toHaveLength(3);
    const fixed = { ...late('x1', 'acme'), occurredAt: '2026-11-19T12:00:00.000Z' };
    const batch = [...Array.from({ length: 500 }, (_, i) => event(i, 'z')), fixed];
    expect(await ingestor.ingest(itemsOf(batch), { source: 'file' })).toEqual({
      accepted: 501,
      duplicates: 0,
      rejected: [],
    });
    expect(ingestor.directCopyFallbacks).toBe(0);
    const open = await sql<{ k: string }>`
      SELECT tenant_id || ':' || event_id AS k FROM ingest_rejects WHERE resolved_at IS NULL AND event_id LIKE 'x%' ORDER BY 1`.execute(
      a.db,
    );
    expect(open.rows.map((r) => r.k)).toEqual(['acme:x2', 'other:x1']);
  });
});
