import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseConnection, openEmbedded } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import {
  insertIngestRejects,
  insertIngestRejectsStatement,
  listIngestRejects,
  MAX_STORED_RAW_BYTES,
  type NewIngestReject,
  rawBytesOf,
  storedRaw,
} from '../../src/db/repositories/ingest-reject.repository.ts';
import { purgeRejects, streamRejects } from '../../src/ingest/rejects.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { migratorFor } from '../support/migrations.ts';

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const reject = (over: Partial<NewIngestReject> = {}): NewIngestReject => ({
  source: 'file',
  tenantId: 'acme',
  eventId: 'e1',
  location: 'f.ndjson:1',
  raw: '{"eventId":"e1"}',
  reason: 'userId: must not be empty',
  ...over,
});

describe('how a payload is stored (storedRaw)', () => {
  it('keeps well-formed text as text, whole up to the cap, with its UTF-8 size and hash', () => {
    expect(storedRaw('žluť')).toEqual({
      raw: 'žluť',
      encoding: 'utf8',
      bytes: 6,
      sha256: sha('žluť'),
      truncated: false,
    });
  });

  it('cuts long text at a character boundary and keeps the whole length and hash', () => {
    const text = `${'a'.repeat(MAX_STORED_RAW_BYTES - 1)}ž and more`;
    const s = storedRaw(text);
    expect(s.encoding).toBe('utf8');
    expect(s.raw).toBe('a'.repeat(MAX_STORED_RAW_BYTES - 1)); // ž (2 bytes) would cross the cap
    expect(s.bytes).toBe(Buffer.byteLength(text));
    expect(s.sha256).toBe(sha(text));
    expect(s.truncated).toBe(true);
  });

  it('keeps NUL text, bytes that are not UTF-8 and lone surrogates in base64, losslessly', () => {
    const nul = storedRaw('\u0000{"a":1}');
    expect(nul.encoding).toBe('base64');
    expect(Buffer.from(nul.raw, 'base64').toString('utf8')).toBe('\u0000{"a":1}');
    const bytes = new Uint8Array([0xc3, 0x28, 0xff]);
    const b = storedRaw(bytes);
    expect(b).toMatchObject({ encoding: 'base64', bytes: 3, sha256: sha(bytes), truncated: false });
    expect([...Buffer.from(b.raw, 'base64')]).toEqual([0xc3, 0x28, 0xff]);
    const lone = storedRaw('u\ud800');
    expect(lone.encoding).toBe('utf16le-base64');
    expect(Buffer.from(lone.raw, 'base64').toString('utf16le')).toBe('u\ud800');
    // Bytes that are UTF-8 are stored as text, the same as the string.
    expect(storedRaw(Buffer.from('ok ž'))).toEqual(storedRaw('ok ž'));
  });

  it('caps bytes too: the first bytes, the full length and hash', () => {
    const big = new Uint8Array(MAX_STORED_RAW_BYTES + 10).fill(0xff);
    const s = storedRaw(big);
    expect(Buffer.from(s.raw, 'base64').length).toBe(MAX_STORED_RAW_BYTES);
    expect(s).toMatchObject({ bytes: MAX_STORED_RAW_BYTES + 10, sha256: sha(big), truncated: true });
  });
});

describe.each(BACKENDS)('the rejects store on $name', ({ name, open }) => {
  let conn: DatabaseConnection;
  const T0 = new Date('2026-11-20T12:00:00Z');
  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
  });
  afterAll(async () => conn?.close());

  it('keeps a 15 MB payload as its first 64 KiB with its length and SHA-256', async () => {
    const body = `{"events":[${'"x",'.repeat((15 * 1024 * 1024) / 4)}1]}`;
    await insertIngestRejects(conn.db, [reject({ eventId: null, raw: body, location: 'http body' })], T0);
    const [kept] = (await listIngestRejects(conn.db, {})).filter((r) => r.location === 'http body');
    expect(kept).toMatchObject({ rawBytes: body.length, rawSha256: sha(body), rawTruncated: true });
    expect(Buffer.byteLength(kept?.raw ?? '')).toBe(MAX_STORED_RAW_BYTES);
    expect(body.startsWith(kept?.raw ?? '?')).toBe(true);
  });

  it('keeps the same open reject once, also when it is bytes or holds NUL, and again once resolved', async () => {
    const bytes = new Uint8Array([0x00, 0xff, 0x41]);
    const batch = [
      reject({ eventId: 'same' }),
      reject({ eventId: 'same' }),
      reject({ eventId: null, raw: bytes }),
      reject({ eventId: 'nul', raw: 'a\u0000b', reason: 'reason with \u0000 and \ud800' }),
    ];
    await insertIngestRejects(conn.db, batch, T0);
    await insertIngestRejects(conn.db, batch, T0);
    const kept = (await listIngestRejects(conn.db, {})).filter(
      (r) => r.eventId === 'same' || r.eventId === 'nul' || r.rawEncoding === 'base64',
    );
    expect(kept).toHaveLength(3);
    const nul = kept.find((r) => r.eventId === 'nul');
    expect(nul?.reason).toBe('reason with \\u0000 and \\ud800');
    expect(Buffer.from(rawBytesOf(nul as never)).toString('utf8')).toBe('a\u0000b');
    expect([...rawBytesOf(kept.find((r) => r.eventId === null) as never)]).toEqual([0x00, 0xff, 0x41]);
    await sql`UPDATE ingest_rejects SET resolved_at = now() WHERE event_id = 'same'`.execute(conn.db);
    await insertIngestRejects(conn.db, [reject({ eventId: 'same' })], T0);
    expect(
      (await listIngestRejects(conn.db, { includeResolved: true })).filter((r) => r.eventId === 'same'),
    ).toHaveLength(2);
  });

  it('checks "already kept" with one probe of the partial index (EXPLAIN), not a scan', async () => {
    await sql`
      INSERT INTO ingest_rejects (received_at, source, tenant_id, event_id, raw, raw_bytes, raw_sha256, reason, dedup_key)
      SELECT now(), 'file', 'acme', 'bulk' || i, 'x', 1, 'h', 'r', md5(i::text) || md5((i + 1)::text)
      FROM generate_series(1, 20000) AS i
    `.execute(conn.db);
    await sql`ANALYZE ingest_rejects`.execute(conn.db);
    const { rows } = await sql<{ 'QUERY PLAN': string }>`EXPLAIN ${insertIngestRejectsStatement(
      [reject({ eventId: 'probe' })],
      T0,
    )}`.execute(conn.db);
    const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/Index (Only )?Scan using ingest_rejects_open_dedup on ingest_rejects/);
    expect(plan).not.toMatch(/Seq Scan on ingest_rejects/);
  });

  it('lists by keyset pages in the order kept, filtered by tenant and state', async () => {
    const before = (await listIngestRejects(conn.db, { includeResolved: true, limit: 1_000_000 })).length;
    const listed: string[] = [];
    for await (const r of streamRejects(conn.db, { includeResolved: true }, 777)) listed.push(r.id);
    expect(listed).toHaveLength(before);
    expect([...listed].sort((a, b) => Number(a) - Number(b))).toEqual(listed);
    expect(new Set(listed).size).toBe(listed.length);
    let open = 0;
    for await (const r of streamRejects(conn.db, { tenantId: 'acme' }, 500)) {
      expect(r.resolvedAt).toBeNull();
      expect(r.tenantId).toBe('acme');
      open += 1;
    }
    expect(open).toBe(before - 1);
  });

  it('purges resolved rejects received before a date, and open ones only when asked', async () => {
    const old = new Date('2026-01-01T00:00:00Z');
    await insertIngestRejects(
      conn.db,
      [reject({ eventId: 'old-open' }), reject({ eventId: 'old-resolved' })],
      old,
    );
    await sql`UPDATE ingest_rejects SET resolved_at = now() WHERE event_id = 'old-resolved'`.execute(conn.db);
    const ids = async () =>
      (await listIngestRejects(conn.db, { includeResolved: true, limit: 1_000_000 })).map((r) => r.eventId);
    const total = (await ids()).length;
    expect(await purgeRejects(conn.db, { before: new Date('2026-02-01T00:00:00Z') })).toBe(1);
    expect(await ids()).not.toContain('old-resolved');
    expect(await ids()).toContain('old-open');
    expect(await purgeRejects(conn.db, { before: new Date('2026-02-01T00:00:00Z'), includeOpen: true })).toBe(
      1,
    );
    expect((await ids()).length).toBe(total - 2);
    if (name === 'postgres') {
      // The bulk rows of the EXPLAIN test are newer than the date: nothing else went.
      expect(await ids()).toContain('bulk1');
    }
  });
});

describe('migration 0002_reject_store on rejects kept before it', () => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await openEmbedded('memory://');
  });
  afterAll(async () => conn?.close());

  it('describes old rows (size, hash) and keys them so that the same reject is not kept again', async () => {
    const migrator = migratorFor(conn.db);
    const { error } = await migrator.migrateTo('0001_initial');
    expect(error).toBeUndefined();
    await sql`
      INSERT INTO ingest_rejects (received_at, source, tenant_id, event_id, location, raw, reason)
      VALUES (now(), 'file', 'acme', 'e1', 'f.ndjson:1', '{"eventId":"e1"}', 'userId: must not be empty'),
             (now(), 'http', NULL, NULL, 'http body', 'not json ž', 'body is not valid JSON')
    `.execute(conn.db);
    await migrateToLatest(conn.db);
    const rows = await listIngestRejects(conn.db, {});
    expect(rows.map((r) => [r.rawEncoding, r.rawBytes, r.rawSha256, r.rawTruncated])).toEqual([
      ['utf8', 16, sha('{"eventId":"e1"}'), false],
      ['utf8', 11, sha('not json ž'), false],
    ]);
    await insertIngestRejects(
      conn.db,
      [
        reject(),
        reject({
          source: 'http',
          tenantId: null,
          eventId: null,
          raw: 'not json ž',
          reason: 'body is not valid JSON',
        }),
      ],
      new Date(),
    );
    expect(await listIngestRejects(conn.db, {})).toHaveLength(2);
  });
});
