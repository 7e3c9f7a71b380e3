/**
 * Brand-new users' versions and license intervals reach PostgreSQL by binary COPY
 * (`BinaryCopyRows`, binary-copy.ts): every value must come out of the database as
 * the `unnest` path stores it — instants before 2000 and far beyond 2^53 microseconds from it,
 * the open interval's infinity, NULLs, text outside ASCII, quotes and tabs in the settings' JSON.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { inTransaction } from '../../src/db/transaction.ts';
import type { SettingsVersion } from '../../src/domain/settings-version.ts';
import { parseSettingsVersionLine, storeSettingsVersions } from '../../src/ingest/settings-import.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { createTestDatabase } from '../support/test-database.ts';

const RECEIVED = new Date('2026-11-20T12:00:00Z');

const INSTANTS = [
  '0001-01-01T00:00:00.000Z',
  '1066-10-14T09:30:00.001Z',
  '1899-12-31T23:59:59.999Z',
  '1970-01-01T00:00:00.000Z',
  '1999-12-31T23:59:59.999Z',
  '2000-01-01T00:00:00.000Z',
  '2000-01-01T00:00:00.001Z',
  '2026-03-29T01:00:00.000Z',
  '2285-06-01T00:00:00.123Z',
  '4321-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59.999Z',
];

function versions(tenantId: string): SettingsVersion[] {
  const lines = INSTANTS.flatMap((at, i) => [
    // One user per instant (an open interval), and one user with every instant (closed ones).
    {
      tenantId,
      userId: `solo-${i}`,
      effectiveAt: at,
      active: i % 4 !== 3,
      ...(i % 3 === 0 ? {} : { email: `u${i}@x.example` }),
      ...(i % 4 === 3 ? {} : { lastName: ['Nováková', 'O\'Brien\t"Jr"', 'Łukasz 🦊'][i % 4] }),
      role: ['user', 'team_leader', 'administrator'][i % 3],
      permissions: i % 2 === 0 ? ['communication'] : [],
      skills: i % 2 === 0 ? ['cz-voice', 'sk\\voice'] : [],
      trackStatistics: i % 5 === 0,
      recordCalls: i % 2 === 1,
      billing: i % 2 === 0 ? 'daily' : 'monthly',
    },
    {
      tenantId,
      userId: 'many',
      effectiveAt: at,
      active: i % 3 !== 2,
      role: i < 5 ? 'user' : 'administrator',
      permissions: [],
      skills: [],
      trackStatistics: false,
      recordCalls: i % 4 < 2,
      billing: 'monthly',
    },
  ]);
  // The file's schema takes instants from 2000 on; the database and the encoder take any: each
  // line is parsed at a valid instant, then given its own.
  return lines.map((l) => {
    const p = parseSettingsVersionLine({ ...l, effectiveAt: '2026-01-01T00:00:00Z' });
    if (!p.ok) throw new Error(p.reason);
    return { ...p.version, effectiveAt: new Date(l.effectiveAt) };
  });
}

const rowsOf = async (db: DatabaseConnection['db'], table: string, tenantId: string) =>
  (
    await sql<{ r: string }>`SELECT (t.*)::text AS r FROM ${sql.table(table)} t
      WHERE tenant_id = ${tenantId} ORDER BY (t.*)::text`.execute(db)
  ).rows.map((x) => x.r.replace(`(${tenantId},`, '(T,'));

describe('binary COPY of new users (PostgreSQL)', () => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await createTestDatabase();
    for (const id of ['bin', 'rows'])
      await addTenant(conn.db, { id, name: id, timezone: 'Europe/Prague', currency: 'EUR' });
  });
  afterAll(async () => conn?.close());

  it('stores every value as the unnest path does', async () => {
    const byCopy = await inTransaction(conn.db, (trx) =>
      storeSettingsVersions(trx, versions('bin'), RECEIVED, { byCopy: true, copyMinVersions: 0 }),
    );
    await inTransaction(conn.db, (trx) =>
      storeSettingsVersions(trx, versions('rows'), RECEIVED, { byCopy: false }),
    );
    expect(byCopy.outcomes.every((o) => o.status === 'stored')).toBe(true);
    const copied = await sql<{ n: string; infinite: string }>`
      SELECT (SELECT count(*) FROM settings_versions WHERE tenant_id = 'bin')::text AS n,
             (SELECT count(*) FROM license_intervals WHERE tenant_id = 'bin' AND valid_to = 'infinity')::text AS infinite`.execute(
      conn.db,
    );
    expect(copied.rows[0]).toEqual({ n: String(INSTANTS.length * 2), infinite: expect.any(String) });
    expect(Number(copied.rows[0]?.infinite)).toBeGreaterThan(1);
    // imported_at is the transaction's time: left out of the comparison.
    const versionsOf = async (t: string) =>
      (
        await sql<{
          r: string;
        }>`SELECT (user_id, effective_at, active, email, last_name, settings, license, billing,
            record_calls, reasons)::text AS r FROM settings_versions WHERE tenant_id = ${t} ORDER BY 1`.execute(
          conn.db,
        )
      ).rows.map((x) => x.r);
    const copiedVersions = await versionsOf('bin');
    expect(copiedVersions).toEqual(await versionsOf('rows'));
    expect(copiedVersions.join('\n')).toContain('9999-12-31 23:59:59.999+00');
    expect(copiedVersions.join('\n')).toContain('0001-01-01 00:00:00+00');
    expect(copiedVersions.join('\n')).toContain('Łukasz 🦊');
    expect(await rowsOf(conn.db, 'license_intervals', 'bin')).toEqual(
      await rowsOf(conn.db, 'license_intervals', 'rows'),
    );
    // The instants are the parsed ones, to the millisecond.
    const stored = await sql<{ at: Date }>`
      SELECT effective_at AS at FROM settings_versions WHERE tenant_id = 'bin' AND user_id = 'many'
      ORDER BY effective_at`.execute(conn.db);
    expect(stored.rows.map((r) => r.at.toISOString())).toEqual(INSTANTS);
  });

  it('a batch holds its tenant (advisory lock, row FOR KEY SHARE) until it ends', async () => {
    let held: { advisory: boolean; row: string } | undefined;
    await inTransaction(conn.db, async (trx) => {
      const stored = await storeSettingsVersions(
        trx,
        versions('bin')
          .slice(0, 2)
          .map((v) => ({ ...v, userId: `lock-${v.userId}` })),
        RECEIVED,
        {
          byCopy: true,
          copyMinVersions: 0,
        },
      );
      expect(stored.outcomes.map((o) => o.status)).toEqual(['stored', 'stored']);
      // From another connection, while this transaction is open: the tenant's settings lock is
      // taken, and its row cannot be locked for a key change.
      await inTransaction(conn.db, async (other) => {
        const lock = await sql<{ ok: boolean }>`
          SELECT pg_try_advisory_xact_lock(hashtext('license-intervals:' || 'bin')) AS ok`.execute(other);
        const row = await sql`SELECT id FROM tenants WHERE id = 'bin' FOR UPDATE NOWAIT`.execute(other).then(
          () => 'locked by us',
          (e: Error) => e.message,
        );
        held = { advisory: lock.rows[0]?.ok === false, row };
      }).catch(() => {});
    });
    expect(held?.advisory).toBe(true);
    expect(held?.row).toMatch(/could not obtain lock/);
  });

  it('an unknown tenant refuses the batch, named, with nothing stored', async () => {
    const v = { ...(versions('bin')[0] as SettingsVersion), tenantId: 'nobody', userId: 'ghost' };
    await expect(
      inTransaction(conn.db, (trx) =>
        storeSettingsVersions(trx, [v], RECEIVED, { byCopy: true, copyMinVersions: 0 }),
      ),
    ).rejects.toThrow(/unknown tenant "nobody"/);
    const n = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM settings_versions WHERE user_id = 'ghost'`.execute(conn.db);
    expect(n.rows[0]?.n).toBe(0);
  });
});
