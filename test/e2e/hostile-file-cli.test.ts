import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, runCli, tenantAddArgs } from '../support/cli.ts';
import { createCliDatabase, type TestDatabase } from '../support/test-database.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'billing-hostile-file-'));
const write = (name: string, parts: (string | Buffer)[]) => {
  const p = path.join(dir, name);
  writeFileSync(p, Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x))));
  return p;
};
const ev = (eventId: string, userId = 'u1') =>
  JSON.stringify({ eventId, tenantId: 'acme', userId, occurredAt: '2026-11-10T08:00:00Z' });
const BIG = 20 * 1024 * 1024;
/** A 20 MB line of valid JSON shape (one long userId). */
const bigLine = () => Buffer.from(ev('big', 'x'.repeat(BIG)));
const invalidUtf8 = (prefix: string, suffix: string) =>
  Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe]), Buffer.from(suffix)]);

describe('hostile files on PostgreSQL: each line judged on its own, with its line number', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  const rejectsAt = async (file: string) =>
    (
      await sql<{ location: string; reason: string; len: number }>`
        SELECT location, reason, length(raw) AS len FROM ingest_rejects
        WHERE location LIKE ${`${file}:%`} ORDER BY id`.execute(tdb.db)
    ).rows;
  const storedIds = async (prefix: string) =>
    (
      await sql<{ event_id: string }>`
        SELECT event_id FROM login_events WHERE event_id LIKE ${`${prefix}%`} ORDER BY event_id`.execute(
        tdb.db,
      )
    ).rows.map((r) => r.event_id);

  beforeAll(async () => {
    ({ tdb, env } = await createCliDatabase());
    const r = await runCli(tenantAddArgs('acme', 'Acme'), { env });
    expect(r.code).toBe(0);
  });
  afterAll(async () => tdb?.close());

  it('NDJSON: a NUL byte, invalid UTF-8, a NUL escape and a 20 MB line among good lines', async () => {
    const file = write('hostile.ndjson', [
      `${ev('n-1')}\n`,
      `${ev('n-2')}\n`,
      `{"eventId":"n-bad1","tenantId":"acme","userId":"u\u0000x","occurredAt":"2026-11-10T08:00:00Z"}\n`,
      `${ev('n-3')}\n`,
      invalidUtf8(
        '{"eventId":"n-bad2","tenantId":"acme","userId":"u',
        '","occurredAt":"2026-11-10T08:00:00Z"}\n',
      ),
      `${ev('n-bad3', 'u\u0000x')}\n`,
      bigLine(),
      '\n',
      `${ev('n-4')}\n`,
      ev('n-5'),
    ]);
    const r = await runCli(['ingest', file, '--json'], { env });
    expect(r.code).toBe(2);
    expect(lastJsonLine(r.stdout)).toEqual({ accepted: 5, duplicates: 0, rejected: 4 });
    expect(r.stderr).toContain(`${file}:3: contains a NUL byte (0x00) at byte offset 49 of the line`);
    expect(r.stderr).toContain(`${file}:5: not valid UTF-8 at byte offset 49 of the line`);
    expect(r.stderr).toMatch(new RegExp(`${file}:6: .*(userId|0x00)`));
    expect(r.stderr).toContain(
      `${file}:7: line too long: ${bigLine().length} bytes, the limit is 1048576 bytes`,
    );
    expect(await storedIds('n-')).toEqual(['n-1', 'n-2', 'n-3', 'n-4', 'n-5']);
    const rejects = await rejectsAt(file);
    expect(rejects.map((x) => x.location).sort()).toEqual([3, 5, 6, 7].map((n) => `${file}:${n}`));
    // the over-long line is kept by its head, not whole
    expect(Math.max(...rejects.map((x) => x.len))).toBeLessThan(100_000);
  });

  it('CSV: the same hostile lines; the good records are stored', async () => {
    const file = write('hostile.csv', [
      'event_id,tenant_id,user_id,occurred_at\n',
      'c-1,acme,u1,2026-11-10T08:00:00Z\n',
      'c-bad1,acme,u\u0000x,2026-11-10T08:00:00Z\n',
      invalidUtf8('c-bad2,acme,u', ',2026-11-10T08:00:00Z\r\n'),
      Buffer.from(`c-bad3,acme,${'y'.repeat(BIG)},2026-11-10T08:00:00Z\n`),
      'c-2,acme,u2,2026-11-10T08:00:00Z\r\n',
      'c-3,acme,u3,2026-11-10T08:00:00Z\n',
    ]);
    const r = await runCli(['ingest', file, '--json'], { env });
    expect(r.code).toBe(2);
    expect(lastJsonLine(r.stdout)).toEqual({ accepted: 3, duplicates: 0, rejected: 3 });
    expect(r.stderr).toContain(`${file}:3: contains a NUL byte (0x00) at byte offset 13 of the line`);
    expect(r.stderr).toContain(`${file}:4: not valid UTF-8 at byte offset 13 of the line`);
    expect(r.stderr).toContain(`${file}:5: line too long:`);
    expect(await storedIds('c-')).toEqual(['c-1', 'c-2', 'c-3']);
    expect((await rejectsAt(file)).map((x) => x.location).sort()).toEqual(
      [3, 4, 5].map((n) => `${file}:${n}`),
    );
  });

  it('a CSV header that is not valid UTF-8 stops the import (exit 2) naming line 1', async () => {
    const file = write('bad-header.csv', [
      invalidUtf8('event_id,tenant_id,user_id,occurred_', 'at\n'),
      'h-1,acme,u1,2026-11-10T08:00:00Z\n',
    ]);
    const r = await runCli(['ingest', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:1: the CSV header not valid UTF-8 at byte offset`);
  });

  it('users import: 251 refused lines are all counted, the first 100 listed, and the good ones stored', async () => {
    const version = (userId: string) =>
      JSON.stringify({
        tenantId: 'acme',
        userId,
        effectiveAt: '2026-11-03T14:05:00Z',
        active: true,
        role: 'user',
        permissions: ['communication'],
        skills: [],
        trackStatistics: false,
        recordCalls: false,
        billing: 'monthly',
      });
    const lines: (string | Buffer)[] = [
      `${version('s-good-1')}\n`,
      // a NUL escape in a value: refused by the schema, or by the database for this line alone
      `${JSON.stringify({ ...JSON.parse(version('s-bad-nul')), lastName: 'x\u0000' })}\n`,
    ];
    for (let i = 0; i < 248; i++) lines.push('not json\n');
    lines.push(
      Buffer.from('{"userId":"a\u0000"}\n'),
      invalidUtf8('{"userId":"', '"}\n'),
      `${version('s-good-2')}\n`,
    );
    const file = write('settings.ndjson', lines);
    const r = await runCli(['users', 'import', file, '--json'], { env });
    expect(r.code).toBe(2);
    expect(lastJsonLine(r.stdout)).toEqual({ stored: 2, unchanged: 0, refused: 251 });
    const listed = r.stderr.split('\n').filter((l) => l.startsWith(`${file}:`));
    expect(listed).toHaveLength(100);
    expect(listed[0]).toMatch(new RegExp(`^${file}:2: .*(lastName|0x00)`));
    expect(listed[1]).toBe(`${file}:3: not valid JSON: Unexpected token 'o', "not json" is not valid JSON`);
    expect(listed.at(-1)).toMatch(new RegExp(`^${file}:101: `));
    expect(r.stderr).toContain('... and 151 more refused lines (only the first 100 are listed)');
    const { rows } = await sql<{ user_id: string }>`
      SELECT user_id FROM settings_versions WHERE user_id LIKE 's-good-%' ORDER BY user_id`.execute(tdb.db);
    expect(rows.map((x) => x.user_id)).toEqual(['s-good-1', 's-good-2']);
  });
});
