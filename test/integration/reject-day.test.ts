import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as m0011 from '../../migrations/0011_console_reads.ts';
import {
  insertIngestRejects,
  type NewIngestReject,
} from '../../src/db/repositories/ingest-reject.repository.ts';
import { rejectDay, rejectHead } from '../../src/domain/reject-attribution.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

/*
 * The day stored with a reject (written by insertIngestRejects, backfilled by migration 0011 in
 * SQL) must be what the rule of src/domain/reject-attribution.ts computes from the stored
 * payload in the tenant's zone, for every payload: compared row by row, both ways of storing.
 */

const ZONES: Record<string, string> = {
  prague: 'Europe/Prague',
  stjohns: 'America/St_Johns', // fell back across midnight (00:01 -> 23:01) until 2011
  lordhowe: 'Australia/Lord_Howe', // 30-minute shifts
  apia: 'Pacific/Apia', // skipped 2011-12-30
  havana: 'America/Havana', // midnight does not exist on some days
  kolkata: 'Asia/Kolkata',
  utc: 'UTC',
};

const iso = (ms: number) => new Date(ms).toISOString();

/** Instants every `stepMin` minutes from `from` for `hours` hours, in several spellings. */
function around(from: string, hours: number, stepMin: number): string[] {
  const out: string[] = [];
  const start = Date.parse(from);
  for (let t = start; t < start + hours * 3_600_000; t += stepMin * 60_000) {
    const s = iso(t);
    out.push(`{"occurredAt":"${s}"}`);
    out.push(`${s.slice(0, 16)}-03:30,u1,e1`);
    out.push(`{"occurredAt":"${s.slice(0, 19)}+0530"}`);
  }
  return out;
}

const EDGES = [
  '{"occurredAt":"2026-02-30T10:00:00Z"}', // rolls over to March 2
  '{"occurredAt":"2026-04-31T23:30:00+02:00"}',
  '{"occurredAt":"2026-13-01T00:00:00Z"}', // no month 13: none
  '{"occurredAt":"2026-00-10T00:00:00Z"}',
  '{"occurredAt":"2026-01-00T00:00:00Z"}',
  '{"occurredAt":"2026-01-32T00:00:00Z"}',
  '{"occurredAt":"2026-01-01T24:00Z"}', // the end of the day
  '{"occurredAt":"2026-01-01T24:00:00.000Z"}',
  '{"occurredAt":"2026-01-01T24:00:00.001Z"}', // none
  '{"occurredAt":"2026-01-01T24:01Z"}',
  '{"occurredAt":"2026-01-01T23:60Z"}',
  '{"occurredAt":"2026-01-01T23:59:60Z"}',
  '{"occurredAt":"2026-01-01T23:59:59.9999999Z"}', // cut to milliseconds
  '{"occurredAt":"2026-01-01T22:59:59.9995+23:59"}',
  '{"occurredAt":"2026-01-01T10:00+24:00"}', // none
  '{"occurredAt":"2026-01-01T10:00-23:59"}',
  '{"occurredAt":"2026-01-01T10:00+12:60"}',
  '{"occurredAt":"2026-01-01T10:00-0000"}',
  '{"occurredAt":"0000-12-31T20:00:00-05:00"}',
  '{"occurredAt":"0000-06-01T00:00:00Z"}', // before year 1: none
  '{"occurredAt":"0001-01-01T00:30:00Z"}',
  '{"occurredAt":"9999-12-31T23:59:00Z"}',
  '{"occurredAt":"9999-12-31T20:00:00-14:00"}',
  '{"occurredAt":"1900-02-29T12:00:00Z"}',
  '{"occurredAt":"2026-10-14"}', // a date is not an instant
  '{"occurredAt":"2026-10-14T10:00"}', // no zone
  '{"a":"12026-10-14T23:30:00Z"}', // the match starts inside a longer number
  '{"occurredAt":"2026-10-14T10:00:00.Z","b":"2026-10-15T23:30:00+01:00"}', // the first real one
  `{"pad":"${'ž'.repeat(1990)}","occurredAt":"2026-10-14T23:30:00Z"}`, // past the 2,000th character
  `{"pad":"${'ž'.repeat(1950)}","occurredAt":"2026-10-14T23:30:00Z"}`,
  `{"pad":"${'😀'.repeat(1960)}","occurredAt":"2026-10-14T23:30:00Z"}`, // astral: one character each
  '{"eventId":"e1"}',
  'not json at all',
  new Uint8Array([0xff, 0xfe, 0x32, 0x30]), // kept in base64
];

const PAYLOADS: Array<string | Uint8Array> = [
  ...EDGES,
  ...around('2010-11-06T23:00:00Z', 6, 7), // St John's fall back across midnight
  ...around('2026-10-24T21:00:00Z', 6, 13), // Europe fall back
  ...around('2026-03-28T21:00:00Z', 6, 13), // Europe spring forward
  ...around('2026-04-04T12:00:00Z', 6, 11), // Lord Howe
  ...around('2011-12-29T08:00:00Z', 24, 37), // Apia's skipped day
  ...around('2026-03-07T23:00:00Z', 6, 17), // Havana
  ...around('1883-11-18T16:00:00Z', 3, 29), // local mean time to standard time
];

let tdb: TestDatabase;

beforeAll(async () => {
  tdb = await createTestDatabase(2);
  await sql`
    INSERT INTO tenants (id, name, timezone, currency)
    SELECT id, id, zone, 'EUR' FROM unnest(${Object.keys(ZONES)}::text[], ${Object.values(ZONES)}::text[]) AS z(id, zone)
  `.execute(tdb.db);
  const rejects: NewIngestReject[] = [];
  for (const tenantId of [...Object.keys(ZONES), 'nobody', null]) {
    PAYLOADS.forEach((raw, i) => {
      rejects.push({ source: 'file', tenantId, eventId: `e${i}`, location: `f:${i}`, raw, reason: 'r' });
    });
  }
  for (let i = 0; i < rejects.length; i += 2_000) {
    await insertIngestRejects(tdb.db, rejects.slice(i, i + 2_000), new Date('2026-11-01T00:00:00Z'));
  }
}, 120_000);

afterAll(async () => {
  await tdb?.close();
});

/** Every reject's stored day next to the rule's day from its stored payload (plain `dayOf`, no cache). */
async function storedAndComputed() {
  const { rows } = await sql<{
    tenant_id: string | null;
    raw: string;
    raw_encoding: string;
    day: string | null;
  }>`
    SELECT r.tenant_id, r.raw, r.raw_encoding, r.day FROM ingest_rejects r ORDER BY r.id
  `.execute(tdb.db);
  return rows.map((r) => {
    const zone = r.tenant_id === null ? undefined : ZONES[r.tenant_id];
    const computed =
      zone === undefined || r.raw_encoding !== 'utf8' ? undefined : rejectDay(rejectHead(r.raw), zone);
    return { tenant: r.tenant_id, raw: r.raw.slice(0, 80), stored: r.day, computed: computed ?? null };
  });
}

describe('the day stored with a reject (migration 0011)', () => {
  it('is the day reject-attribution computes, for every payload and zone, as ingest writes it', async () => {
    const rows = await storedAndComputed();
    expect(rows).toHaveLength(PAYLOADS.length * (Object.keys(ZONES).length + 2));
    expect(rows.filter((r) => r.stored !== r.computed)).toEqual([]);
    // The sample is not trivial: most are attributed, some are not, and days differ by zone.
    expect(rows.filter((r) => r.stored !== null).length).toBeGreaterThan(rows.length / 2);
    expect(rows.filter((r) => r.tenant === 'stjohns' && r.stored === '2010-11-07').length).toBeGreaterThan(
      10,
    );
    expect(rows.some((r) => r.tenant === 'prague' && r.stored === '2026-03-02')).toBe(true);
  });

  it('is the same day when migration 0011 backfills it in SQL from the stored payloads', async () => {
    const written = await storedAndComputed();
    await m0011.down(tdb.db as never);
    await m0011.up(tdb.db as never);
    const backfilled = await storedAndComputed();
    expect(backfilled.filter((r) => r.stored !== r.computed)).toEqual([]);
    expect(backfilled).toEqual(written);
  });
});
