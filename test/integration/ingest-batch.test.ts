import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { listIngestRejects } from '../../src/db/repositories/ingest-reject.repository.ts';
import { dayBounds } from '../../src/domain/calendar.ts';
import { EventIngestor, type IngestItem } from '../../src/ingest/event-ingest.service.ts';
import { ndjsonItem } from '../../src/ingest/event-line.parser.ts';
import { parseLoginEvent, parseLoginEventWithSchema } from '../../src/ingest/login-event.schema.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { isoInstantArb } from '../support/arbitraries.ts';
import { BACKENDS } from '../support/backends.ts';
import { markedDays } from '../support/day-marks.ts';
import { createTestDatabase } from '../support/test-database.ts';

const NOW = new Date('2026-11-20T12:00:00Z');
const item = (o: unknown, i = 0): IngestItem =>
  ndjsonItem(typeof o === 'string' ? o : JSON.stringify(o), `batch:${i}`);
const items = (...objs: unknown[]) => objs.map((o, i) => item(o, i));
const ev = (eventId: string, occurredAt: string, userId = 'u-1', tenantId = 'acme') => ({
  eventId,
  tenantId,
  userId,
  occurredAt,
});

async function activity(conn: DatabaseConnection, tenantId: string) {
  const rows = await conn.db
    .selectFrom('daily_activity')
    .select(['day', 'user_id', 'first_login_at', 'last_login_at', 'login_count'])
    .where('tenant_id', '=', tenantId)
    .orderBy('day')
    .orderBy('user_id')
    .execute();
  return rows.map((r) => ({
    day: r.day,
    user: r.user_id,
    first: r.first_login_at.toISOString(),
    last: r.last_login_at.toISOString(),
    count: r.login_count,
  }));
}

// Every case runs on both backends and, on PostgreSQL, on the three write paths: `unnest` arrays
// (the default for small batches), COPY straight into login_events (forced here for any size;
// it falls back to the staging table when a key exists) and COPY into the staging table alone.
const VARIANTS = [
  ...BACKENDS.map((b) => ({ ...b, copyMinEvents: undefined as number | undefined, directCopy: true })),
  { name: 'postgres, COPY path', open: BACKENDS[0].open, copyMinEvents: 0, directCopy: true },
  {
    name: 'postgres, COPY via the staging table',
    open: BACKENDS[0].open,
    copyMinEvents: 0,
    directCopy: false,
  },
];

describe.each(VARIANTS)('login-event ingest on $name', ({ open, copyMinEvents, directCopy }) => {
  let conn: DatabaseConnection;
  let ingestor: EventIngestor;
  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    await addTenant(conn.db, { id: 'kol', name: 'Kolkata', timezone: 'Asia/Kolkata', currency: 'INR' });
    await addTenant(conn.db, { id: 'other', name: 'Other', timezone: 'UTC', currency: 'EUR' });
    ingestor = new EventIngestor(conn.db, () => NOW, { copyMinEvents, directCopy });
  });
  afterAll(async () => conn?.close());

  it('stores new events once and rolls them up into the tenant-local day', async () => {
    const r = await ingestor.ingest(
      items(
        ev('a1', '2026-11-10T08:00:00.000+01:00'),
        ev('a2', '2026-11-10T17:30:00.250+01:00'),
        ev('a3', '2026-11-10T23:30:00.000Z'), // 00:30 on the 11th in Prague
      ),
      { source: 'file' },
    );
    expect(r).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await activity(conn, 'acme')).toEqual([
      {
        day: '2026-11-10',
        user: 'u-1',
        first: '2026-11-10T07:00:00.000Z',
        last: '2026-11-10T16:30:00.250Z',
        count: 2,
      },
      {
        day: '2026-11-11',
        user: 'u-1',
        first: '2026-11-10T23:30:00.000Z',
        last: '2026-11-10T23:30:00.000Z',
        count: 1,
      },
    ]);
    const revisions = (await markedDays(conn.db)).map(({ tenant_id, day }) => ({ tenant_id, day }));
    expect(revisions).toEqual([
      { tenant_id: 'acme', day: '2026-11-10' },
      { tenant_id: 'acme', day: '2026-11-11' },
    ]);
  });

  it('counts duplicates inside a batch, across batches and written with another offset, changing nothing', async () => {
    const before = await activity(conn, 'acme');
    const r = await ingestor.ingest(
      items(
        ev('a1', '2026-11-10T07:00:00Z'), // same instant as stored, written with Z
        ev('a2', '2026-11-10T21:30:00.250+05:00'),
        ev('b1', '2026-11-12T10:00:00Z'),
        ev('b1', '2026-11-12T11:00:00+01:00'), // same instant, same batch
      ),
      { source: 'http' },
    );
    expect(r).toEqual({ accepted: 1, duplicates: 3, rejected: [] });
    const after = await activity(conn, 'acme');
    expect(after.filter((a) => a.day !== '2026-11-12')).toEqual(before);
    expect(after.find((a) => a.day === '2026-11-12')?.count).toBe(1);
  });

  it('rejects and keeps an eventId reused with other content, in the store or earlier in the batch', async () => {
    const r = await ingestor.ingest(
      items(
        ev('a1', '2026-11-10T07:00:00.001Z'),
        ev('a2', '2026-11-10T16:30:00.250Z', 'u-2'),
        ev('c1', '2026-11-13T10:00:00Z'),
        ev('c1', '2026-11-13T10:00:00Z', 'u-9'),
      ),
      { source: 'file' },
    );
    expect(r.accepted).toBe(1);
    expect(r.duplicates).toBe(0);
    expect(r.rejected.map((x) => [x.index, x.eventId])).toEqual([
      [0, 'a1'],
      [1, 'a2'],
      [3, 'c1'],
    ]);
    expect(r.rejected[0]?.reason).toContain('already stored with other content');
    expect(r.rejected[2]?.reason).toContain('appears earlier (batch:2)');
    const stored = await conn.db
      .selectFrom('login_events')
      .select(['user_id', 'occurred_at'])
      .where('event_id', '=', 'a1')
      .executeTakeFirstOrThrow();
    expect(stored.occurred_at.toISOString()).toBe('2026-11-10T07:00:00.000Z');
    const kept = await listIngestRejects(conn.db, { tenantId: 'acme' });
    expect(kept.map((k) => [k.eventId, k.source, k.location])).toEqual([
      ['a1', 'file', 'batch:0'],
      ['a2', 'file', 'batch:1'],
      ['c1', 'file', 'batch:3'],
    ]);
    expect(kept[0]?.raw).toBe(JSON.stringify(ev('a1', '2026-11-10T07:00:00.001Z')));
  });

  it('rejects and keeps every kind of bad event, and stores the good ones around them', async () => {
    const bad = [
      '{not json',
      '[1,2]',
      { tenantId: 'acme', userId: 'u', occurredAt: '2026-11-10T08:00:00Z' },
      ev('', '2026-11-10T08:00:00Z'),
      ev('x'.repeat(201), '2026-11-10T08:00:00Z'),
      ev('d2', '2026-11-10T08:00:00Z', ''),
      ev('d3', '2026-11-10T08:00:00Z', 'u'.repeat(201)),
      { ...ev('d4', '2026-11-10T08:00:00Z'), userId: 42 },
      ev('d5', '2026-11-10T08:00:00'), // no offset
      ev('d6', 'yesterday'),
      ev('d7', '2026-11-10T08:00:00Z', 'u-1', 'nobody'),
      ev('d8', '2026-11-20T12:05:00.001Z'), // 5 min + 1 ms ahead of receipt
    ];
    const r = await ingestor.ingest(
      items(ev('g1', '2026-11-14T10:00:00Z'), ...bad, ev('g2', '2026-11-20T12:05:00.000Z')),
      {
        source: 'file',
      },
    );
    expect(r.accepted).toBe(2);
    expect(r.rejected.map((x) => x.index)).toEqual(bad.map((_, i) => i + 1));
    const reasons = r.rejected.map((x) => x.reason);
    expect(reasons[0]).toMatch(/^not valid JSON/);
    expect(reasons[2]).toMatch(/^eventId:/);
    expect(reasons[3]).toMatch(/^eventId:/);
    expect(reasons[4]).toMatch(/^eventId: must be at most 200/);
    expect(reasons[5]).toMatch(/^userId:/);
    expect(reasons[7]).toMatch(/^userId:/);
    expect(reasons[8]).toMatch(/^occurredAt: must be an RFC 3339/);
    expect(reasons[9]).toMatch(/^occurredAt:/);
    expect(reasons[10]).toBe('tenantId: unknown tenant "nobody"');
    expect(reasons[11]).toMatch(/more than 5 minutes after/);
    const kept = await listIngestRejects(conn.db, {});
    const raws = new Set(kept.map((k) => k.raw));
    for (const b of bad) expect(raws.has(typeof b === 'string' ? b : JSON.stringify(b))).toBe(true);
    expect(kept.find((k) => k.raw === JSON.stringify(bad[7]))?.eventId).toBe('d4');
  });

  it('rejects events of a tenant the caller may not write, keeping them', async () => {
    const r = await ingestor.ingest(items(ev('o1', '2026-11-10T08:00:00Z', 'u-1', 'other')), {
      source: 'http',
      allowedTenant: 'acme',
    });
    expect(r.accepted).toBe(0);
    expect(r.rejected[0]?.reason).toBe('tenantId: "other" may not be written with a key of tenant "acme"');
    expect(
      await conn.db.selectFrom('login_events').where('tenant_id', '=', 'other').selectAll().execute(),
    ).toEqual([]);
    // The reject belongs to the caller's tenant; the claimed one is in the reason and the payload.
    expect((await listIngestRejects(conn.db, { tenantId: 'other' })).length).toBe(0);
    expect(
      (await listIngestRejects(conn.db, { tenantId: 'acme' })).filter((k) => k.eventId === 'o1'),
    ).toHaveLength(1);
  });

  it('accepts a fixed event re-submitted after its reject, and marks the reject resolved', async () => {
    await ingestor.ingest(items(ev('f1', '2026-11-10T08:00:00')), { source: 'file' });
    expect((await listIngestRejects(conn.db, { tenantId: 'acme' })).some((k) => k.eventId === 'f1')).toBe(
      true,
    );
    const r = await ingestor.ingest(items(ev('f1', '2026-11-10T08:00:00Z')), { source: 'file' });
    expect(r).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect((await listIngestRejects(conn.db, { tenantId: 'acme' })).some((k) => k.eventId === 'f1')).toBe(
      false,
    );
    const all = await listIngestRejects(conn.db, { tenantId: 'acme', includeResolved: true });
    expect(all.find((k) => k.eventId === 'f1')?.resolvedAt?.toISOString()).toBe(NOW.toISOString());
  });

  it('puts events on the right tenant-local day around DST, in a half-hour zone and at midnight', async () => {
    const cases: [string, string, string][] = [
      // [tenant, day, zone]: 23 h and 25 h days in Prague, a +05:30 zone
      ['acme', '2026-03-29', 'Europe/Prague'],
      ['acme', '2026-10-25', 'Europe/Prague'],
      ['kol', '2026-06-15', 'Asia/Kolkata'],
    ];
    const batch: IngestItem[] = [];
    for (const [tenant, day, zone] of cases) {
      const { start, end } = dayBounds(day, zone);
      const hours = (end.getTime() - start.getTime()) / 3_600_000;
      expect([23, 24, 25]).toContain(hours);
      const at = (ms: number) => new Date(ms).toISOString();
      batch.push(item(ev(`${day}-first`, at(start.getTime()), 'dst', tenant)));
      batch.push(item(ev(`${day}-last`, at(end.getTime() - 1), 'dst', tenant)));
      batch.push(item(ev(`${day}-next`, at(end.getTime()), 'dst', tenant)));
    }
    // written in local time with the offset, the same instants
    batch.push(item(ev('kol-local-last', '2026-06-15T23:59:59.999+05:30', 'dst2', 'kol')));
    batch.push(item(ev('kol-local-first', '2026-06-16T00:00:00.000+05:30', 'dst2', 'kol')));
    const r = await ingestor.ingest(batch, { source: 'file' });
    expect(r.rejected).toEqual([]);
    const days = await conn.db
      .selectFrom('login_events')
      .select(['event_id', 'day'])
      .where('user_id', 'in', ['dst', 'dst2'])
      .orderBy('event_id')
      .execute();
    expect(Object.fromEntries(days.map((d) => [d.event_id, d.day]))).toEqual({
      '2026-03-29-first': '2026-03-29',
      '2026-03-29-last': '2026-03-29',
      '2026-03-29-next': '2026-03-30',
      '2026-10-25-first': '2026-10-25',
      '2026-10-25-last': '2026-10-25',
      '2026-10-25-next': '2026-10-26',
      '2026-06-15-first': '2026-06-15',
      '2026-06-15-last': '2026-06-15',
      '2026-06-15-next': '2026-06-16',
      'kol-local-last': '2026-06-15',
      'kol-local-first': '2026-06-16',
    });
    const spring = (await activity(conn, 'acme')).find((a) => a.day === '2026-03-29' && a.user === 'dst');
    expect(spring).toEqual({
      day: '2026-03-29',
      user: 'dst',
      first: '2026-03-28T23:00:00.000Z',
      last: '2026-03-29T21:59:59.999Z',
      count: 2,
    });
  });

  it('stores ids with tabs, backslashes, line breaks and non-ASCII text unchanged', async () => {
    const odd = ['tab\there', 'back\\slash\\N', 'line\nbreak\r', '\\N', 'žluťoučký 🐎', 'comma,"quote"'];
    const r = await ingestor.ingest(
      items(...odd.map((id, i) => ev(id, `2026-11-09T0${i}:00:00Z`, `user ${id}`))),
      { source: 'file' },
    );
    expect(r).toEqual({ accepted: odd.length, duplicates: 0, rejected: [] });
    const rows = await conn.db
      .selectFrom('login_events')
      .select(['event_id', 'user_id'])
      .where('event_id', 'in', odd)
      .execute();
    expect(new Map(rows.map((x) => [x.event_id, x.user_id]))).toEqual(
      new Map(odd.map((id) => [id, `user ${id}`])),
    );
    const again = await ingestor.ingest(
      items(...odd.map((id, i) => ev(id, `2026-11-09T0${i}:00:00Z`, `user ${id}`))),
      { source: 'file' },
    );
    expect(again).toEqual({ accepted: 0, duplicates: odd.length, rejected: [] });
  });
});

describe('concurrent deliveries on PostgreSQL', () => {
  let a: DatabaseConnection;
  let b: DatabaseConnection;
  beforeAll(async () => {
    const t = await createTestDatabase();
    a = t;
    const { openPostgres } = await import('../../src/db/connection.ts');
    b = await openPostgres(t.url, 4);
    await addTenant(a.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('counts the same events delivered on two connections at once exactly once', async () => {
    const batch = Array.from({ length: 3000 }, (_, i) =>
      item(ev(`e${i}`, new Date(Date.UTC(2026, 10, 1 + (i % 10), i % 24)).toISOString(), `u${i % 50}`), i),
    );
    const reversed = [...batch].reverse();
    // One delivery by COPY into the staging table, the others by unnest arrays.
    const results = await Promise.all([
      new EventIngestor(a.db, () => NOW, { copyMinEvents: 0 }).ingest(batch, { source: 'http' }),
      new EventIngestor(b.db, () => NOW).ingest(reversed, { source: 'stream' }),
      new EventIngestor(b.db, () => NOW).ingest(batch.slice(1000, 2000), { source: 'file' }),
    ]);
    expect(results.reduce((s, r) => s + r.accepted, 0)).toBe(3000);
    expect(results.reduce((s, r) => s + r.duplicates, 0)).toBe(4000);
    expect(results.every((r) => r.rejected.length === 0)).toBe(true);
    const { total } = await a.db
      .selectFrom('daily_activity')
      .select((eb) => eb.fn.sum<string>('login_count').as('total'))
      .executeTakeFirstOrThrow();
    expect(Number(total)).toBe(3000);
  });
});

describe('the fast event validator', () => {
  // Hostile strings too: NUL anywhere, lone high and low surrogates, a well-formed pair, all
  // UTF-16 code units (fc.string with unit 'binary' makes lone surrogates).
  const hostile = fc.oneof(
    fc.constantFrom('u\u0000x', '\u0000', 'u\ud800', 'u\udfff', '\udfff\ud800', '🐎', 'a\ud83d', '\ude0ab'),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc
      .tuple(fc.string({ maxLength: 5 }), fc.constantFrom('\u0000', '\ud800', '\udc00'))
      .map(([a, b]) => a + b),
  );
  const text = (max: number) =>
    fc.oneof(
      fc.string({ maxLength: max + 2 }),
      fc.constantFrom('', 'x'.repeat(max), 'x'.repeat(max + 1), 'ž'.repeat(max), '🐎'.repeat(max / 2 + 1)),
      hostile,
    );
  const field = (max: number) =>
    fc.oneof(text(max), text(max), fc.constantFrom(42, null, undefined, true, ['a']));
  const digits = (n: number, max: number) =>
    fc.integer({ min: 0, max }).map((v) => String(v).padStart(n, '0'));
  const offset = fc.oneof(
    fc.constantFrom('Z', 'z', '+00:00', '-00:00', '+05:30', '-03:30', '+14:00', '+24:00', '+0530', '+05', ''),
    fc.tuple(fc.constantFrom('+', '-'), digits(2, 30), digits(2, 70)).map(([s, h, m]) => `${s}${h}:${m}`),
  );
  const instant = fc
    .tuple(
      digits(4, 9999),
      digits(2, 13),
      digits(2, 32),
      fc.constantFrom('T', 't', ' '),
      digits(2, 25),
      digits(2, 61),
      digits(2, 61),
      fc.constantFrom('', '.1', '.250', '.999999', '.', '.1234567890'),
      offset,
    )
    .map(([y, mo, d, t, h, mi, s, f, o]) => `${y}-${mo}-${d}${t}${h}:${mi}:${s}${f}${o}`);
  const occurredAt = fc.oneof(
    instant,
    instant,
    isoInstantArb(),
    fc.constantFrom('2024-02-29T00:00:00Z', '2026-02-29T00:00:00Z', '2026-11-10', 'yesterday', 12),
    // Around the earliest instant (2000-01-01T00:00:00Z), written with offsets, and year 0000.
    fc.constantFrom(
      '0000-01-01T00:00:00Z',
      '0001-01-02T12:00:00+01:00',
      '1999-12-31T23:59:59.999Z',
      '2000-01-01T00:00:00Z',
      '2000-01-01T00:59:59.999+01:00',
      '2000-01-01T01:00:00.000+01:00',
      '1999-12-31T19:00:00-05:00',
    ),
    isoInstantArb({ min: '1990-01-01', max: '2010-01-01' }),
    fc.string(),
  );
  const event = fc.oneof(
    fc.record(
      { eventId: field(200), tenantId: field(63), userId: field(200), occurredAt, extra: fc.anything() },
      { requiredKeys: [] },
    ),
    fc.record({ eventId: text(200), tenantId: text(63), userId: text(200), occurredAt }),
    fc.anything(),
  );

  it('gives the same verdict as the zod schema for any value', () => {
    fc.assert(
      fc.property(event, (value) => {
        expect(parseLoginEvent(value)).toEqual(parseLoginEventWithSchema(value));
      }),
      { numRuns: 20_000 },
    );
  });

  it('refuses NUL, lone surrogates and instants before 2000 on both paths, naming the field', () => {
    const base = { eventId: 'e1', tenantId: 't', userId: 'u', occurredAt: '2026-11-10T08:00:00Z' };
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ userId: 'u\u0000x' }, /^userId: must not contain the NUL/],
      [{ eventId: 'e\ud800' }, /^eventId: must be well-formed Unicode/],
      [{ tenantId: '\udfff' }, /^tenantId: must be well-formed Unicode/],
      [{ occurredAt: '0000-01-01T00:00:00Z' }, /^occurredAt: must not be before 2000-01-01T00:00:00Z$/],
      [{ occurredAt: '2000-01-01T00:59:59.999+01:00' }, /^occurredAt: must not be before/],
    ];
    for (const [change, reason] of cases) {
      const verdict = parseLoginEvent({ ...base, ...change });
      expect(verdict.ok).toBe(false);
      expect(verdict.ok ? '' : verdict.reason).toMatch(reason);
    }
    expect(parseLoginEvent({ ...base, userId: 'u🐎', occurredAt: '2000-01-01T01:00:00+01:00' }).ok).toBe(
      true,
    );
  });

  it('takes the fast path for ordinary valid events (not only the fallback)', () => {
    const value = { eventId: 'e1', tenantId: 't', userId: 'u', occurredAt: '2026-11-10T08:00:00.250+01:00' };
    const parsed = parseLoginEvent(value);
    expect(parsed.ok).toBe(true);
    // A valid event is its own parse result (`ok` and `event` from its prototype).
    expect(parsed.ok && parsed.event).toBe(parsed);
    expect(parsed.ok && parsed.event).toEqual({
      eventId: 'e1',
      tenantId: 't',
      userId: 'u',
      occurredAtMs: Date.UTC(2026, 10, 10, 7, 0, 0, 250),
    });
  });
});
