/**
 * A file-import batch of brand-new users reaches PostgreSQL in ONE message (`runScript`, the COPY
 * payloads written behind it): BEGIN + the tenants' locks + a check + both COPYs + the day marks
 * + COMMIT; or, when Node could not plan it whole, in two: BEGIN + the locks + the probe, then the
 * rest. What must hold: the script runs its statements in order and stops at the first error,
 * payloads sent ahead included; literals carry any text; the probe and the one message's check
 * read after the locks (a writer that held them is seen, and the batch is planned again); a batch whose plan no longer holds (a user stored
 * meanwhile, a tenant's zone changed) is refused whole and stored by the general path; two
 * batches in flight keep the file's order between a user's versions; and the import stores
 * exactly what the general path stores, in one query a batch.
 */
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.ts';
import { inlineParameters, runScript } from '../../src/db/query-script.ts';
import { beginSettingsBatch } from '../../src/db/repositories/settings-batch-script.repository.ts';
import { inTransaction } from '../../src/db/transaction.ts';
import type { SettingsVersion } from '../../src/domain/settings-version.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import {
  parseSettingsVersionLine,
  prepareSettingsVersions,
  type SettingsVersionInput,
  storePreparedBatchAlone,
  storeSettingsVersions,
} from '../../src/ingest/settings-import.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const NOW = new Date('2026-11-20T12:00:00Z');

/** `users` lines of `tenantId`: users u{from}..; every third one a second, later version. */
function lines(tenantId: string, from: number, users: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let n = from; n < from + users; n++) {
    const base = {
      tenantId,
      userId: `u${n}`,
      role: n % 3 === 0 ? 'administrator' : 'user',
      permissions: n % 2 === 0 ? ['communication'] : [],
      skills: n % 5 === 0 ? ['a', 'b'] : ['a'],
      billing: n % 4 === 0 ? 'daily' : 'monthly',
    };
    out.push({ ...base, effectiveAt: new Date(Date.UTC(2026, 9, 1 + (n % 40))).toISOString() });
    if (n % 3 === 0)
      out.push({
        ...base,
        role: 'user',
        effectiveAt: new Date(Date.UTC(2026, 10, 12 + (n % 7))).toISOString(),
      });
  }
  return out;
}

const ndjson = (rows: Record<string, unknown>[]) => Readable.from(rows.map((r) => `${JSON.stringify(r)}\n`));

/** User `userId` of `tenantId` with the settings of `lines`' first user, at `effectiveAt` when given. */
function versionOf(tenantId: string, userId: string, effectiveAt?: string): SettingsVersion {
  const p = parseSettingsVersionLine({
    ...(lines(tenantId, 1, 1)[0] as SettingsVersionInput),
    userId,
    ...(effectiveAt === undefined ? {} : { effectiveAt }),
  });
  if (!p.ok) throw new Error(p.reason);
  return p.version;
}

/**
 * A writer that stores `versions` by the general path and keeps its transaction (and so its
 * tenants' locks) open until `release()`: resolves once it holds them; `done` once it committed.
 */
async function holdingWriter(
  db: Kysely<Database>,
  versions: SettingsVersion[],
): Promise<{ release: () => void; done: Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let holds!: () => void;
  const holding = new Promise<void>((r) => {
    holds = r;
  });
  const done = inTransaction(db, async (trx) => {
    await storeSettingsVersions(trx, versions, NOW);
    holds();
    await gate;
  });
  await holding;
  return { release, done };
}

/** Every row of a tenant in the three tables the import writes (times of writing left out). */
async function tenantRows(db: Kysely<Database>, tenantId: string): Promise<string[][]> {
  const q = (query: ReturnType<typeof sql<{ r: string }>>) =>
    query.execute(db).then((r) => r.rows.map((x) => x.r));
  return Promise.all([
    q(sql`SELECT (user_id, effective_at, active, email, last_name, settings, license, billing, record_calls,
                  reasons)::text AS r FROM settings_versions WHERE tenant_id = ${tenantId} ORDER BY 1`),
    q(sql`SELECT (user_id, valid_from, valid_to, license, billing, record_calls)::text AS r
          FROM license_intervals WHERE tenant_id = ${tenantId} ORDER BY 1`),
    q(
      sql`SELECT (from_day, to_day, revision)::text AS r FROM day_marks WHERE tenant_id = ${tenantId} ORDER BY 1`,
    ),
  ]);
}

describe('settings batches by script (PostgreSQL)', () => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    for (const id of ['script', 'general', 'lock'])
      await addTenant(tdb.db, { id, name: id, timezone: 'America/New_York', currency: 'USD' });
  });
  afterAll(async () => tdb?.close());

  it('runs its statements in order in one message, feeding each COPY its payload', async () => {
    const results = await tdb.db.connection().execute(async (conn) => {
      const r = await runScript(
        conn,
        [
          'BEGIN',
          'CREATE TEMP TABLE script_t (n int, s text) ON COMMIT DROP',
          'COPY script_t FROM STDIN',
          "INSERT INTO script_t VALUES (3, 'three')",
          'COPY script_t (s, n) FROM STDIN',
          'SELECT n, s FROM script_t ORDER BY n',
          'COMMIT',
        ],
        [Buffer.from('1\tone\n'), Buffer.from('two\t2\n\\N\t4\n')],
      );
      return r;
    });
    expect(results.map((r) => r.command)).toEqual([
      'BEGIN',
      'CREATE TABLE',
      'COPY 1',
      'INSERT 0 1',
      'COPY 2',
      'SELECT 4',
      'COMMIT',
    ]);
    expect(results[5]?.rows).toEqual([
      ['1', 'one'],
      ['2', 'two'],
      ['3', 'three'],
      ['4', null],
    ]);
  });

  it('stops at the first error (nothing after it runs) with the server error, and the connection rolls back', async () => {
    await sql`CREATE TABLE script_stop (n int PRIMARY KEY)`.execute(tdb.db);
    const error = await tdb.db.connection().execute(async (conn) => {
      const failed = await runScript(conn, [
        'BEGIN',
        'INSERT INTO script_stop VALUES (1)',
        'INSERT INTO script_stop VALUES (1)',
        'INSERT INTO script_stop VALUES (2)',
        'COMMIT',
      ]).catch((e: unknown) => e);
      await sql`ROLLBACK`.execute(conn);
      return failed;
    });
    expect((error as { code?: string }).code).toBe('23505');
    const { rows } = await sql<{ n: number }>`SELECT n FROM script_stop`.execute(tdb.db);
    expect(rows).toEqual([]);
    // A COPY without a payload is refused, named; a payload left over too.
    await expect(
      tdb.db.connection().execute((conn) => runScript(conn, ['COPY script_stop FROM STDIN'])),
    ).rejects.toThrow('no data for this COPY');
    await expect(
      tdb.db.connection().execute((conn) => runScript(conn, ['SELECT 1'], [Buffer.from('1\n')])),
    ).rejects.toThrow('used 0 of its 1 COPY payloads');
    expect(
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM script_stop`.execute(tdb.db)).rows,
    ).toEqual([{ n: 0 }]);
  });

  it('payloads sent ahead: each COPY reads its own; an error before or inside a COPY drops the rest, the connection stays usable', async () => {
    await sql`CREATE TABLE script_ahead (n int PRIMARY KEY, s text)`.execute(tdb.db);
    const count = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM script_ahead`.execute(tdb.db)).rows[0]?.n;
    const run = (statements: string[], copies: Buffer[]) =>
      tdb.db.connection().execute(async (conn) => {
        const outcome = await runScript(conn, statements, copies, true).catch((e: unknown) => e);
        await sql`ROLLBACK`.execute(conn);
        // The connection answers its next query: nothing of the dropped payloads is left on it.
        const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(conn);
        return { outcome, rows };
      });
    const copies = [Buffer.from('1\tone\n2\ttwo\n'), Buffer.from('3\tthree\n')];
    const ok = await run(
      [
        'BEGIN',
        'COPY script_ahead FROM STDIN',
        'COPY script_ahead FROM STDIN',
        'SELECT count(*) FROM script_ahead',
        'COMMIT',
      ],
      copies,
    );
    expect((ok.outcome as { command: string }[]).map((r) => r.command)).toEqual([
      'BEGIN',
      'COPY 2',
      'COPY 1',
      'SELECT 1',
      'COMMIT',
    ]);
    expect(await count()).toBe(3);
    // An error before the first COPY: both payloads dropped by the server.
    const before = await run(
      [
        'BEGIN',
        'INSERT INTO script_ahead VALUES (1)',
        'COPY script_ahead FROM STDIN',
        'COPY script_ahead FROM STDIN',
        'COMMIT',
      ],
      [Buffer.from('7\tseven\n'), Buffer.from('8\teight\n')],
    );
    expect((before.outcome as { code?: string }).code).toBe('23505');
    expect(before.rows).toEqual([{ one: 1 }]);
    // An error inside the first COPY (a bad value): the rest of it and the second payload dropped.
    const inside = await run(
      ['BEGIN', 'COPY script_ahead FROM STDIN', 'COPY script_ahead FROM STDIN', 'COMMIT'],
      [Buffer.from(`9\tnine\nten\tx\n${'11\televen\n'.repeat(20_000)}`), Buffer.from('12\ttwelve\n')],
    );
    expect((inside.outcome as { code?: string }).code).toBe('22P02');
    expect(inside.rows).toEqual([{ one: 1 }]);
    expect(await count()).toBe(3);
  });

  it('inlined parameters carry any text (quotes, backslashes, braces, NULL, empty, non-ASCII) and refuse NUL', async () => {
    const edge = [
      '',
      'NULL',
      'null',
      'a,b',
      '{x}',
      '"',
      '\\',
      "'",
      'O\'Brien\\"',
      ' spaced ',
      'Łukasz 🦊',
      '\t\n',
    ];
    const check = async (values: string[]) => {
      const [text] = values;
      const statement =
        sql`SELECT array_to_json(${values}::text[])::text, ${text ?? null}::text, ${7}::int`.compile(tdb.db);
      const [result] = await tdb.db
        .connection()
        .execute((conn) => runScript(conn, [inlineParameters(statement.sql, statement.parameters)]));
      const [array, first, seven] = result?.rows[0] ?? [];
      expect(JSON.parse(String(array))).toEqual(values);
      expect(first).toBe(text ?? null);
      expect(seven).toBe('7');
    };
    await check(edge);
    await check([]);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\u0000'))), check),
      { numRuns: 60 },
    );
    expect(() => inlineParameters('SELECT $1::text', ['a\u0000b'])).toThrow('NUL');
    expect(() => inlineParameters('SELECT $1::text[]', [['a\u0000b']])).toThrow('NUL');
    const at = new Date('2026-03-29T01:30:00.123Z');
    const [instant] = await tdb.db
      .connection()
      .execute((conn) =>
        runScript(conn, [
          inlineParameters("SELECT ($1::timestamptz = '2026-03-29T01:30:00.123Z')::text", [at]),
        ]),
      );
    expect(instant?.rows).toEqual([['true']]);
    expect(inlineParameters('SELECT $1::text[], $2::text', [['a', null], null])).toBe(
      `SELECT '{"a",NULL}'::text[], NULL::text`,
    );
  });

  it('the probe reads after the locks: a version committed by a writer holding them is seen', async () => {
    const version = (userId: string) => versionOf('lock', userId);
    const writer = await holdingWriter(tdb.db, [version('late')]);
    let begunAt = 0;
    const probe = tdb.db.connection().execute(async (conn) => {
      try {
        const begun = await beginSettingsBatch(conn, [version('late'), version('early')]);
        begunAt = Date.now();
        return begun;
      } finally {
        await sql`ROLLBACK`.execute(conn);
      }
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(begunAt).toBe(0); // still waiting for the writer's lock
    const releasedAt = Date.now();
    writer.release();
    await writer.done;
    const begun = await probe;
    expect(begunAt).toBeGreaterThanOrEqual(releasedAt);
    expect([...begun.known]).toEqual(['lock\u0000late']);
    expect(begun.zones).toEqual(new Map([['lock', 'America/New_York']]));
  });

  it('the one-message check reads after the locks: a user a writer holding them stores is seen, and the batch is planned again', async () => {
    await addTenant(tdb.db, { id: 'lock2', name: 'lock2', timezone: 'America/New_York', currency: 'USD' });
    const version = (userId: string, effectiveAt: string) => versionOf('lock2', userId, effectiveAt);
    // The writer stores an earlier version of 'late' (another key than the batch's).
    const writer = await holdingWriter(tdb.db, [version('late', '2026-09-01T00:00:00Z')]);
    let storedAt = 0;
    const batch = [version('late', '2026-10-05T00:00:00Z'), version('early', '2026-10-05T00:00:00Z')];
    const stored = storePreparedBatchAlone(
      tdb.db,
      prepareSettingsVersions(batch, { byCopy: true, copyMinVersions: 1, planNewUsers: true }),
      NOW,
      new Map([['lock2', 'America/New_York']]),
    ).then((outcome) => {
      storedAt = Date.now();
      return outcome;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(storedAt).toBe(0); // still waiting for the writer's lock
    writer.release();
    await writer.done;
    const outcome = await stored;
    // Planned as new, the check found 'late' known: stored by the general path, both versions in.
    expect(outcome.ofKnownUsers).toBe(1);
    expect(outcome.outcomes).toEqual([{ status: 'stored' }, { status: 'stored' }]);
    const { rows } = await sql<{ r: string }>`
      SELECT user_id || ' ' || valid_from::date || ' ' || (valid_to = 'infinity') AS r
      FROM license_intervals WHERE tenant_id = 'lock2' ORDER BY user_id, valid_from`.execute(tdb.db);
    // 'late' has one stretch from its first version (the same settings: merged), never two open ones.
    expect(rows.map((x) => x.r)).toEqual(['early 2026-10-05 true', 'late 2026-09-01 true']);
  });

  it('a batch whose plan no longer holds (a zone changed, a user stored meanwhile, a tenant gone) is refused whole and stored by the general path', async () => {
    const versionsOf = (tenantId: string, rows: Record<string, unknown>[]) =>
      rows.map((l) => {
        const p = parseSettingsVersionLine({ ...l, tenantId });
        if (!p.ok) throw new Error(p.reason);
        return p.version;
      });
    // Versions at UTC midnight: a day earlier in New York than in Tokyo, so the zone shows in the marks.
    const rows = lines('x', 0, 30);
    const store = (tenantId: string, zone: string) =>
      storePreparedBatchAlone(
        tdb.db,
        prepareSettingsVersions(versionsOf(tenantId, rows), {
          byCopy: true,
          copyMinVersions: 1,
          planNewUsers: true,
        }),
        NOW,
        new Map([[tenantId, zone]]),
      );
    for (const id of ['planned', 'replanned', 'known'])
      await addTenant(tdb.db, { id, name: id, timezone: 'America/New_York', currency: 'USD' });
    const asPlanned = await store('planned', 'America/New_York');
    const replanned = await store('replanned', 'Asia/Tokyo');
    expect(replanned).toEqual(asPlanned);
    expect(asPlanned.outcomes.every((o) => o.status === 'stored')).toBe(true);
    const [plannedRows, replannedRows] = await Promise.all([
      tenantRows(tdb.db, 'planned'),
      tenantRows(tdb.db, 'replanned'),
    ]);
    expect(plannedRows[2]?.length).toBeGreaterThan(0);
    expect(replannedRows).toEqual(plannedRows);
    // A user stored since the batch was planned: the general path finds it (same content: unchanged).
    await inTransaction(tdb.db, (trx) =>
      storeSettingsVersions(trx, versionsOf('known', rows.slice(0, 1)), NOW),
    );
    const known = await store('known', 'America/New_York');
    // u0 has two versions in the batch: the first stored already (unchanged), the second new.
    expect(known.ofKnownUsers).toBe(2);
    expect(known.outcomes.slice(0, 2)).toEqual([{ status: 'unchanged' }, { status: 'stored' }]);
    // The same versions and intervals (its marks: the first write's, then the batch's own).
    expect((await tenantRows(tdb.db, 'known')).slice(0, 2)).toEqual(plannedRows.slice(0, 2));
    // A tenant that is gone (never was): refused whole, named, nothing written.
    await expect(store('ghost', 'America/New_York')).rejects.toThrow('unknown tenant "ghost"');
    expect(await tenantRows(tdb.db, 'ghost')).toEqual([[], [], []]);
  });

  it('two batches in flight: a batch sharing a user with the one before it waits, so the file decides between their versions', async () => {
    for (const id of ['order', 'a-slow'])
      await addTenant(tdb.db, { id, name: id, timezone: 'Europe/Prague', currency: 'EUR' });
    const at = (d: number) => new Date(Date.UTC(2026, 10, d)).toISOString();
    const line = (tenantId: string, userId: string, day: number, role: string) => ({
      tenantId,
      userId,
      effectiveAt: at(day),
      role,
    });
    // Batches of two lines. The first also writes tenant a-slow, whose lock this test holds for a
    // while (a-slow's lock is taken before order's): without the wait the second batch, free to
    // go, would store u1's key first and the FIRST line would be the conflict.
    const file = [
      line('order', 'u1', 3, 'user'),
      line('a-slow', 'x1', 4, 'user'),
      line('order', 'u1', 3, 'administrator'),
      line('order', 'u3', 5, 'user'),
      line('order', 'u2', 6, 'team_leader'),
    ];
    const held = tdb.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext('license-intervals:a-slow'))`.execute(trx);
      await new Promise((r) => setTimeout(r, 400));
    });
    await new Promise((r) => setTimeout(r, 50));
    const result = await importSettingsFile(tdb.db, ndjson(file), () => NOW, { batchSize: 2 });
    await held;
    expect(result).toMatchObject({ stored: 4, unchanged: 0, refusedTotal: 1 });
    expect(result.refused).toEqual([{ lineNo: 3, reason: expect.stringContaining('role') }]);
    const { rows } = await sql<{ r: string }>`
      SELECT user_id || ' ' || (settings->>'role') AS r FROM settings_versions
      WHERE tenant_id = 'order' ORDER BY user_id, effective_at`.execute(tdb.db);
    expect(rows.map((r) => r.r)).toEqual(['u1 user', 'u2 team_leader', 'u3 user']);
  });

  it('the import stores exactly what the general path stores, in one query per batch of new users', async () => {
    const queries: string[] = [];
    const pool = new pg.Pool({ connectionString: tdb.url, max: 4 });
    const logged = new Kysely<Database>({
      dialect: new PostgresDialect({ pool }),
      log: (event) => {
        // A script (or a COPY stream) goes to pg as an object with its text.
        const text = event.query.sql as unknown as string | { text: string };
        if (event.level === 'query') queries.push(typeof text === 'string' ? text : text.text);
      },
    });
    try {
      // Three batches of 1,200 lines: the first two all new users, the third with users of the
      // second (their later versions) and new ones.
      const batch1 = lines('script', 0, 900);
      const batch2 = lines('script', 900, 900);
      const known = Array.from({ length: 300 }, (_, k) => ({
        ...(batch2[0] as Record<string, unknown>),
        userId: `u${901 + k}`,
        effectiveAt: new Date(Date.UTC(2026, 10, 19)).toISOString(),
        role: 'administrator',
      }));
      const file = [...batch1, ...batch2, ...known, ...lines('script', 1800, 600)];
      const result = await importSettingsFile(logged, ndjson(file), () => NOW, { batchSize: 1_200 });
      expect(result.refused).toEqual([]);
      expect(result).toMatchObject({ stored: file.length, unchanged: 0, refusedTotal: 0 });
      // Every batch planned ahead as all new goes whole: BEGIN + locks + check + COPYs + marks +
      // COMMIT. The third's check finds users of the second: rolled back, then BEGIN + locks + the
      // probe, and the general path in the same transaction.
      const whole = queries.filter((q) => q.startsWith('BEGIN;') && q.trimEnd().endsWith('COMMIT;'));
      expect(whole).toHaveLength(3);
      expect(whole.every((q) => q.includes('settings_batch_unexpected'))).toBe(true);
      expect(queries.filter((q) => q.trimEnd() === 'ROLLBACK;')).toHaveLength(1);
      expect(queries.filter((q) => q.startsWith('BEGIN;') && !q.trimEnd().endsWith('COMMIT;'))).toHaveLength(
        1,
      );
      expect(queries.filter((q) => q.startsWith('COPY ') && q.trimEnd().endsWith('COMMIT;'))).toHaveLength(0);
      // The general path, batch for batch, in a tenant of its own.
      for (let at = 0; at < file.length; at += 1_200) {
        const versions = file.slice(at, at + 1_200).map((l) => {
          const p = parseSettingsVersionLine({ ...l, tenantId: 'general' });
          if (!p.ok) throw new Error(p.reason);
          return p.version;
        });
        await inTransaction(tdb.db, (trx) => storeSettingsVersions(trx, versions, NOW, { byCopy: false }));
      }
      const [scriptRows, generalRows] = await Promise.all([
        tenantRows(tdb.db, 'script'),
        tenantRows(tdb.db, 'general'),
      ]);
      expect(scriptRows[0]).toHaveLength(file.length);
      expect(scriptRows[1]?.length).toBeGreaterThan(2_400);
      expect(scriptRows[2]?.length).toBeGreaterThan(0);
      expect(scriptRows).toEqual(generalRows);
    } finally {
      await logged.destroy();
    }
  });
});
