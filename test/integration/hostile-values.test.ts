import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { listIngestRejects, rawBytesOf } from '../../src/db/repositories/ingest-reject.repository.ts';
import { MAX_SKILLS } from '../../src/domain/settings.ts';
import { buildServer } from '../../src/http/server.ts';
import { EventIngestor, type IngestItem } from '../../src/ingest/event-ingest.service.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { userIdsWithReplacementChar } from '../support/fixtures.ts';

const NOW = new Date('2026-11-20T12:00:00Z');

interface BatchBody {
  accepted: number;
  duplicates: number;
  rejected: { index: number; eventId: string | null; reason: string }[];
}

/** Every value judged on its own, over HTTP, on both databases. */
describe.each(BACKENDS)('hostile values on $name', ({ name, open }) => {
  let conn: DatabaseConnection;
  let app: FastifyInstance;
  let acmeKey: string;
  let seq = 0;
  /** A good event with a fresh id. */
  const good = (over: Record<string, unknown> = {}) => ({
    eventId: `g-${++seq}`,
    tenantId: 'acme',
    userId: `u-${seq}`,
    occurredAt: '2026-11-19T10:00:00Z',
    ...over,
  });
  const post = (payload: string | Buffer, key = acmeKey) =>
    app.inject({
      method: 'POST',
      url: '/v1/login-events',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      payload,
    });
  /** Posts `events`, checks accepted + duplicates + rejected = sent, returns the answer. */
  const batch = async (events: unknown[]): Promise<BatchBody> => {
    const res = await post(JSON.stringify({ events }));
    expect(res.statusCode).toBe(200);
    const body = res.json() as BatchBody;
    expect(body.accepted + body.duplicates + body.rejected.length).toBe(events.length);
    return body;
  };
  const stored = async (eventIds: string[]) =>
    (
      await conn.db
        .selectFrom('login_events')
        .select(['event_id', 'user_id'])
        .where('event_id', 'in', eventIds)
        .orderBy('event_id')
        .execute()
    ).map((r) => r.event_id);
  const putSettings = (userPath: string, body: unknown) =>
    app.inject({
      method: 'PUT',
      url: `/v1/users/${userPath}/settings`,
      headers: { authorization: `Bearer ${acmeKey}`, 'content-type': 'application/json' },
      payload: JSON.stringify(body),
    });
  const settings = { role: 'user', permissions: ['communication'], effectiveAt: '2026-11-03T14:05:00Z' };

  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    await addTenant(conn.db, { id: 'beta', name: 'Beta', timezone: 'UTC', currency: 'EUR' });
    acmeKey = await createApiKey(conn.db, 'acme');
    app = buildServer({
      db: conn.db,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      serialize: name === 'embedded',
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await conn?.close();
  });

  it('NUL in userId: that event is a reject naming userId, the good one is stored', async () => {
    const ok = good();
    const body = await batch([ok, good({ userId: 'u\u0000x' }), good({ eventId: 'e\u0000' })]);
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r) => r.index)).toEqual([1, 2]);
    expect(body.rejected[0]?.reason).toMatch(/^userId: must not contain the NUL character/);
    expect(body.rejected[1]?.reason).toMatch(/^eventId: must not contain the NUL character/);
    expect(await stored([ok.eventId])).toEqual([ok.eventId]);
    const kept = await listIngestRejects(conn.db, { tenantId: 'acme' });
    expect(kept.some((k) => k.raw.includes('u\\u0000x'))).toBe(true);
  });

  it('lone surrogates are rejected, never rewritten to U+FFFD nor merged, and a resend is stable', async () => {
    const ok = good();
    const events = [
      ok,
      good({ userId: 'u\ud800' }),
      good({ userId: 'u\udfff' }),
      good({ eventId: 'e\udc00' }),
    ];
    const first = await batch(events);
    expect(first.accepted).toBe(1);
    expect(first.rejected.map((r) => r.index)).toEqual([1, 2, 3]);
    for (const r of first.rejected) expect(r.reason).toMatch(/: must be well-formed Unicode/);
    expect(first.rejected[0]?.reason).toMatch(/^userId:/);
    const again = await batch(events);
    expect(again.duplicates).toBe(1);
    expect(again.rejected.map((r) => r.reason)).toEqual(first.rejected.map((r) => r.reason));
    expect(await userIdsWithReplacementChar(conn.db)).toEqual([]);
  });

  it('occurredAt before 2000-01-01 (year 0000 too) is a reject naming occurredAt', async () => {
    const ok = good();
    const edge = good({ occurredAt: '2000-01-01T00:00:00Z' });
    const body = await batch([
      ok,
      good({ occurredAt: '0000-01-01T00:00:00Z' }),
      good({ occurredAt: '1999-12-31T23:59:59.999Z' }),
      good({ occurredAt: '0001-01-02T12:00:00+01:00' }),
      edge,
    ]);
    expect(body.accepted).toBe(2);
    expect(body.rejected.map((r) => [r.index, r.reason])).toEqual([
      [1, 'occurredAt: must not be before 2000-01-01T00:00:00Z'],
      [2, 'occurredAt: must not be before 2000-01-01T00:00:00Z'],
      [3, 'occurredAt: must not be before 2000-01-01T00:00:00Z'],
    ]);
    expect(await stored([ok.eventId, edge.eventId])).toHaveLength(2);
  });

  it('a 200k-deep nested array inside events is one reject (kept cut), the good events are stored', async () => {
    const ok = good();
    const depth = 200_000;
    const bomb = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const payload = `{"events":[${JSON.stringify(ok)},${bomb},${JSON.stringify(ok)}]}`;
    const res = await post(payload);
    expect(res.statusCode).toBe(200);
    const body = res.json() as BatchBody;
    expect(body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(body.rejected.map((r) => r.index)).toEqual([1]);
    expect(await stored([ok.eventId])).toEqual([ok.eventId]);
    const kept = (await listIngestRejects(conn.db, { tenantId: 'acme' })).filter(
      (k) => k.location === 'http batch index 1' && k.raw.startsWith('[[[['),
    );
    expect(kept).toHaveLength(1);
    expect(kept[0]?.raw).toContain('…(cut)');
  });

  it('a body starting with \\x00, or not UTF-8, is 400 and kept byte for byte as one reject', async () => {
    const nul = Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify({ events: [good()] }))]);
    const res = await post(nul);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/not valid JSON/);
    const latin1 = Buffer.from([0x7b, 0x22, 0xe9, 0x22, 0x7d, 0xff]);
    const res2 = await post(latin1);
    expect(res2.statusCode).toBe(400);
    expect(res2.json().error).toMatch(/not valid UTF-8/);
    const bodies = (await listIngestRejects(conn.db, { tenantId: 'acme' })).filter(
      (k) => k.location === 'http body',
    );
    const nulReject = bodies.find((k) => Buffer.from(rawBytesOf(k)).equals(nul));
    expect(nulReject).toMatchObject({ rawEncoding: 'base64', rawBytes: nul.length, rawTruncated: false });
    const latinReject = bodies.find((k) => Buffer.from(rawBytesOf(k)).equals(latin1));
    expect(latinReject).toMatchObject({ rawEncoding: 'base64', rawBytes: latin1.length });
  });

  it("a batch claiming another tenant: the reject is the key's tenant's, the claim stays in the reason", async () => {
    const ok = good();
    const claim = good({ tenantId: 'beta' });
    const body = await batch([ok, claim, good({ tenantId: 'beta', userId: '' })]);
    expect(body.accepted).toBe(1);
    expect(body.rejected[0]?.reason).toBe('tenantId: "beta" may not be written with a key of tenant "acme"');
    expect(await listIngestRejects(conn.db, { tenantId: 'beta', includeResolved: true })).toEqual([]);
    const kept = await listIngestRejects(conn.db, { tenantId: 'acme' });
    expect(kept.find((k) => k.eventId === claim.eventId)?.raw).toContain('"tenantId":"beta"');
    expect(await stored([ok.eventId, claim.eventId])).toEqual([ok.eventId]);
  });

  it('PUT settings: NUL in the path or in lastName, an ancient effectiveAt, too many skills: 400 naming the field', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['u%00x', settings, /^userId: must not contain the NUL/],
      ['u-1', { ...settings, lastName: 'No\u0000vak' }, /^lastName: must not contain the NUL/],
      ['u-1', { ...settings, lastName: 'No\ud800vak' }, /^lastName: must be well-formed/],
      ['u-1', { ...settings, effectiveAt: '0000-01-01T00:00:00Z' }, /^effectiveAt: must not be before 2000/],
      ['u-1', { ...settings, effectiveAt: '0001-01-02T12:00:00Z' }, /^effectiveAt: must not be before 2000/],
      [
        'u-1',
        { ...settings, skills: Array.from({ length: MAX_SKILLS + 1 }, (_, i) => `s${i}`) },
        /^skills: must hold at most 500 entries/,
      ],
      ['u-1', { ...settings, skills: ['x'.repeat(101)] }, /^skills\.0: must be at most 100 characters/],
      ['u-1', { ...settings, skills: ['a\u0000'] }, /^skills\.0: must not contain the NUL/],
      [
        'u-1',
        { ...settings, skills: Array.from({ length: 150_000 }, () => 'a') },
        /^skills: must hold at most/,
      ],
      ['x'.repeat(201), settings, /^userId: must be at most 200 characters/],
    ];
    for (const [user, body, error] of cases) {
      const res = await putSettings(user, body);
      expect(res.statusCode, `${user.slice(0, 20)} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
      expect(res.json().error).toMatch(error);
    }
    // A path that is not valid percent-encoded UTF-8 (a lone surrogate in CESU-8) is bad input too.
    const bad = await putSettings('u%ED%A0%80', settings);
    expect(bad.statusCode).toBe(400);
    expect(await conn.db.selectFrom('settings_versions').selectAll().execute()).toEqual([]);
  });

  it('PUT settings: a 200-character userId (even of 3-byte characters) in the path is stored', async () => {
    for (const id of ['u'.repeat(200), 'ž'.repeat(200), '語'.repeat(200)]) {
      const res = await putSettings(encodeURIComponent(id), {
        ...settings,
        skills: Array.from({ length: MAX_SKILLS }, (_, i) => `s${i}`),
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().userId).toBe(id);
    }
    const users = await conn.db.selectFrom('settings_versions').select('user_id').execute();
    expect(users.map((u) => u.user_id.length)).toEqual([200, 200, 200]);
  });
});

/** The ingest path itself, below the validators: what the database still refuses is isolated. */
describe.each([
  ...BACKENDS.map((b) => ({ ...b, copyMinEvents: undefined as number | undefined })),
  { name: 'postgres, COPY path', open: BACKENDS[0].open, copyMinEvents: 0 },
])('defence in depth on $name', ({ open, copyMinEvents }) => {
  let conn: DatabaseConnection;
  let ingestor: EventIngestor;
  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    ingestor = new EventIngestor(conn.db, () => NOW, { copyMinEvents });
  });
  afterAll(async () => conn?.close());

  /** An item as if a validator had let `userId` through. */
  const unchecked = (eventId: string, userId: string): IngestItem => ({
    raw: JSON.stringify({ eventId, tenantId: 'acme', userId, occurredAt: '2026-11-19T10:00:00Z' }),
    location: `batch:${eventId}`,
    parsed: {
      ok: true,
      event: { eventId, tenantId: 'acme', userId, occurredAtMs: Date.parse('2026-11-19T10:00:00Z') },
    },
  });

  it('a value the validators missed costs only its own event: the rest of the batch is stored', async () => {
    const items = Array.from({ length: 40 }, (_, i) =>
      unchecked(`d${i}`, i === 17 || i === 31 ? `bad\u0000${i}` : `u${i}`),
    );
    const r = await ingestor.ingest(items, { source: 'file' });
    expect(r.accepted + r.duplicates + r.rejected.length).toBe(items.length);
    expect(r.accepted).toBe(38);
    expect(r.rejected.map((x) => x.index)).toEqual([17, 31]);
    expect(r.rejected[0]?.reason).toMatch(/^the database refused this event: .*SQLSTATE 22021/);
    const rows = await conn.db.selectFrom('login_events').select('event_id').execute();
    expect(rows).toHaveLength(38);
    const again = await ingestor.ingest(items, { source: 'file' });
    expect(again).toMatchObject({ accepted: 0, duplicates: 38 });
    expect(again.rejected.map((x) => x.index)).toEqual([17, 31]);
  });

  it('keeps the bytes of a line that is not UTF-8 (Uint8Array raw) losslessly', async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0x65, 0xff, 0xfe, 0x00, 0x22, 0x7d]);
    const r = await ingestor.ingest(
      [
        { raw: bytes, location: 'f.ndjson:1', parsed: { ok: false, reason: 'line 1 is not valid UTF-8' } },
        unchecked('b-ok', 'u-ok'),
      ],
      { source: 'file' },
    );
    expect(r).toMatchObject({ accepted: 1, duplicates: 0 });
    const kept = (await listIngestRejects(conn.db, {})).find((k) => k.location === 'f.ndjson:1');
    expect(kept).toMatchObject({
      rawEncoding: 'base64',
      rawBytes: bytes.length,
      rawTruncated: false,
      tenantId: null,
    });
    expect(Buffer.from(rawBytesOf(kept as never)).equals(Buffer.from(bytes))).toBe(true);
  });
});
