import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';

/**
 * The file import prepares batch N+1 (2,000 lines) while batch N is stored. A batch failing in
 * the middle of a file must leave the batches before it stored, report a refused line by its
 * number, and store nothing of the batches after a failure that stops the import.
 */
const NOW = new Date('2026-11-20T12:00:00Z');
const LINES = 5_000; // batches of lines 1-2000, 2001-4000, 4001-5000
const BAD_LINE = 3_000;

/** One stream chunk per line, so the import sees the file arrive piece by piece. */
function file(tenantId: string, badUser: string): Readable {
  const out: string[] = [];
  for (let n = 1; n <= LINES; n++) {
    const line = {
      tenantId,
      userId: n === BAD_LINE ? badUser : `u${n}`,
      effectiveAt: new Date(Date.UTC(2026, 10, 1) + (n % 100) * 60_000).toISOString(),
      role: n % 3 === 0 ? 'administrator' : 'user',
      permissions: n % 2 === 0 ? ['communication'] : [],
      skills: n % 5 === 0 ? ['a', 'b'] : ['a'],
    };
    out.push(`${JSON.stringify(line)}\n`);
  }
  return Readable.from(out);
}

async function storedUsers(
  conn: DatabaseConnection,
  tenantId: string,
): Promise<{ versions: number[]; intervals: number }> {
  const rows = await conn.db
    .selectFrom('settings_versions')
    .select('user_id')
    .where('tenant_id', '=', tenantId)
    .execute();
  const { rows: i } = await sql<{ n: string }>`
    SELECT count(*)::text AS n FROM license_intervals WHERE tenant_id = ${tenantId}`.execute(conn.db);
  return {
    versions: rows.map((r) => Number(r.user_id.replace(/^u/, ''))).sort((a, b) => a - b),
    intervals: Number(i[0]?.n),
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

describe.each(BACKENDS)('settings import pipeline on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    for (const id of ['refuse', 'stop'])
      await addTenant(conn.db, { id, name: id, timezone: 'Europe/Prague', currency: 'EUR' });
    // A value the database refuses although the line is valid (check_violation), and a
    // transient failure (serialization_failure), each for one user id.
    await sql`
      CREATE FUNCTION test_refuse_user() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.user_id = 'refused-by-db' THEN
          RAISE EXCEPTION 'user refused by the test' USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.user_id = 'transient' THEN
          RAISE EXCEPTION 'transient failure of the test' USING ERRCODE = 'serialization_failure';
        END IF;
        RETURN NEW;
      END $$`.execute(conn.db);
    await sql`
      CREATE TRIGGER test_refuse_user BEFORE INSERT ON settings_versions
      FOR EACH ROW EXECUTE FUNCTION test_refuse_user()`.execute(conn.db);
  });
  afterAll(async () => conn?.close());

  it('a line the database refuses in the middle batch costs only that line, reported by number', async () => {
    const r = await importSettingsFile(conn.db, file('refuse', 'refused-by-db'), () => NOW);
    expect(r.stored).toBe(LINES - 1);
    expect(r.refusedTotal).toBe(1);
    expect(r.refused[0]?.lineNo).toBe(BAD_LINE);
    expect(r.refused[0]?.reason).toContain('could not be stored');
    expect(r.refused[0]?.reason).toContain('user refused by the test');
    const stored = await storedUsers(conn, 'refuse');
    expect(stored.versions).toEqual(range(1, LINES).filter((n) => n !== BAD_LINE));
    // Every stored user is active: one interval each, none for the refused line.
    expect(stored.intervals).toBe(LINES - 1);
  });

  it('a transient failure in the middle batch stops the import: the batch before it stored, the failed one not at all; a re-run stores the rest', async () => {
    await expect(importSettingsFile(conn.db, file('stop', 'transient'), () => NOW)).rejects.toThrow(
      'transient failure of the test',
    );
    const stored = await storedUsers(conn, 'stop');
    // The batch after it was on the server beside it (two in flight): stored whole or not at all.
    const after = stored.versions.filter((n) => n > 2_000);
    expect([[], range(4_001, LINES)]).toContainEqual(after);
    expect(stored.versions.filter((n) => n <= 2_000)).toEqual(range(1, 2_000));
    expect(stored.intervals).toBe(stored.versions.length);
    // Once the failure has passed, a re-run stores exactly what is missing.
    const again = await importSettingsFile(conn.db, file('stop', 'u3000'), () => NOW);
    expect(again).toMatchObject({ stored: LINES - stored.versions.length, refusedTotal: 0 });
    expect((await storedUsers(conn, 'stop')).versions).toEqual(range(1, LINES));
  });
});
