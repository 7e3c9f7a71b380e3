/**
 * License intervals (migration 0008): the table the day's snapshot reads always equals the
 * intervals recomputed by the domain reference (`licenseIntervals`) from every stored version,
 * whatever order the versions arrive in: back-dated before later ones, several of one user in a
 * batch, repeats and conflicting versions at the same instant. On PostgreSQL and PGlite.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openEmbedded } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { listLicenseIntervals } from '../../src/db/repositories/license-interval.repository.ts';
import { inTransaction } from '../../src/db/transaction.ts';
import { licenseIntervals } from '../../src/domain/license-intervals.ts';
import type { BillingMode, License } from '../../src/domain/settings.ts';
import { parseSettingsVersionLine, storeSettingsVersions } from '../../src/ingest/settings-import.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { migratorFor } from '../support/migrations.ts';
import { suiteDatabase } from '../support/test-database.ts';
import { LICENSE_SETTINGS, parseVersionSpec } from './bill-day-fixtures.ts';

const BASE = Date.UTC(2026, 10, 1);

/** Thrown to roll a transaction back after its checks. */
class Rollback extends Error {}
const RECEIVED = new Date('2030-01-01T00:00:00Z');

const versionArb = fc.record({
  user: fc.constantFrom('u0', 'u1', 'u2'),
  // Few instants: the same instant comes back (a repeat or a conflict), and later batches
  // often carry versions older than stored ones (back-dating).
  slot: fc.integer({ min: 0, max: 9 }),
  license: fc.constantFrom('standard', 'professional', 'enterprise') as fc.Arbitrary<
    keyof typeof LICENSE_SETTINGS
  >,
  billing: fc.constantFrom('monthly', 'daily') as fc.Arbitrary<BillingMode>,
  recordCalls: fc.boolean(),
  active: fc.boolean(),
  email: fc.constantFrom('a@x.example', 'b@x.example'),
});
const caseArb = fc.record({
  versions: fc.array(versionArb, { minLength: 1, maxLength: 24 }),
  cuts: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 24 }),
});

describe.each(BACKENDS)('license intervals on $name', ({ name, open }) => {
  const conn = suiteDatabase(open);
  let n = 0;

  it('equal the intervals recomputed from all versions after every batch, in any insertion order', async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ versions, cuts }) => {
        const tenantId = `t${++n}`;
        await addTenant(conn.db, {
          id: tenantId,
          name: tenantId,
          timezone: 'Europe/Prague',
          currency: 'EUR',
        });
        const parsed = versions.map((v) =>
          parseVersionSpec(
            tenantId,
            { userId: v.user, at: new Date(BASE + v.slot * 3_600_000).toISOString(), ...v },
            { email: v.email },
          ),
        );
        let at = 0;
        for (let b = 0; at < parsed.length; b++) {
          const size = cuts[b % cuts.length] as number;
          const batch = parsed.slice(at, at + size);
          at += size;
          await inTransaction(conn.db, async (trx) => {
            // On PostgreSQL every other batch goes by COPY, however small (the import's path).
            const options = { byCopy: name === 'postgres' && b % 2 === 1, copyMinVersions: 0 };
            if (b % 3 !== 2) return storeSettingsVersions(trx, batch, RECEIVED, options);
            // Every third batch: half by the repository (which writes the intervals itself), then
            // half by a plain INSERT in the same transaction, which the trigger must still follow.
            const half = Math.floor(batch.length / 2);
            await storeSettingsVersions(trx, batch.slice(0, half), RECEIVED, options);
            for (const v of batch.slice(half)) {
              await sql`INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name,
                          settings, license, billing, record_calls, reasons)
                        VALUES (${v.tenantId}, ${v.userId}, ${v.effectiveAt}, ${v.active}, ${v.email}, ${v.lastName},
                          ${v.settingsJson}::jsonb, ${v.license}, ${v.billing}, ${v.recordCalls}, ${v.reasonsJson}::jsonb)
                        ON CONFLICT DO NOTHING`.execute(trx);
            }
          });

          const { rows } = await sql<{
            user_id: string;
            effective_at: Date;
            active: boolean;
            license: License;
            billing: BillingMode;
            record_calls: boolean;
          }>`SELECT user_id, effective_at, active, license, billing, record_calls FROM settings_versions
             WHERE tenant_id = ${tenantId}`.execute(conn.db);
          const users = [...new Set(rows.map((r) => r.user_id))].sort();
          const expected = users.flatMap((u) =>
            licenseIntervals(
              rows
                .filter((r) => r.user_id === u)
                .map((r) => ({
                  effectiveAt: r.effective_at,
                  active: r.active,
                  license: r.license,
                  billing: r.billing,
                  recordCalls: r.record_calls,
                })),
            ).map((i) => ({ userId: u, ...i })),
          );
          const stored = await listLicenseIntervals(conn.db, tenantId);
          expect(stored).toEqual(expected);
          // And what the database's own recompute (the trigger's) makes of the same versions:
          // brand-new users' intervals are written by the importer, computed in Node.
          await inTransaction(conn.db, async (trx) => {
            await sql`DELETE FROM license_intervals WHERE tenant_id = ${tenantId}`.execute(trx);
            await sql`SELECT license_intervals_refresh_users(array_agg(tenant_id), array_agg(user_id))
                      FROM settings_versions WHERE tenant_id = ${tenantId}`.execute(trx);
            expect(await listLicenseIntervals(trx, tenantId)).toEqual(stored);
            throw new Rollback();
          }).catch((error: unknown) => {
            if (!(error instanceof Rollback)) throw error;
          });
          // The first content stored at a key stays: what was stored is what arrived first.
          const firstAt = new Map<string, (typeof parsed)[number]>();
          for (const v of parsed.slice(0, at)) {
            const k = `${v.userId}|${v.effectiveAt.getTime()}`;
            if (!firstAt.has(k)) firstAt.set(k, v);
          }
          expect(rows.length).toBe(firstAt.size);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a back-dated version splits the interval it falls into, and one of the same state does not', async () => {
    const tenantId = 'split';
    await addTenant(conn.db, { id: tenantId, name: tenantId, timezone: 'UTC', currency: 'EUR' });
    const version = (at: string, license: keyof typeof LICENSE_SETTINGS) => {
      const p = parseSettingsVersionLine({
        tenantId,
        userId: 'u',
        effectiveAt: at,
        ...LICENSE_SETTINGS[license],
      });
      if (!p.ok) throw new Error(p.reason);
      return p.version;
    };
    const store = (at: string, license: keyof typeof LICENSE_SETTINGS) =>
      inTransaction(conn.db, (trx) => storeSettingsVersions(trx, [version(at, license)], RECEIVED));
    await store('2026-03-01T00:00:00Z', 'standard');
    await store('2026-01-01T00:00:00Z', 'enterprise');
    await store('2026-02-01T00:00:00Z', 'enterprise');
    const view = async () =>
      (await listLicenseIntervals(conn.db, tenantId)).map(
        (i) =>
          `${i.validFrom.toISOString().slice(0, 10)}..${i.validTo?.toISOString().slice(0, 10) ?? ''} ${i.license}`,
      );
    expect(await view()).toEqual(['2026-01-01..2026-03-01 enterprise', '2026-03-01.. standard']);
    await store('2026-01-15T00:00:00Z', 'developer');
    expect(await view()).toEqual([
      '2026-01-01..2026-01-15 enterprise',
      '2026-01-15..2026-02-01 developer',
      '2026-02-01..2026-03-01 enterprise',
      '2026-03-01.. standard',
    ]);
  });
});

describe('migration 0008 backfills the intervals of versions stored before it', () => {
  it('gives every existing user the intervals the domain computes from their versions', async () => {
    const conn = await openEmbedded('memory://');
    try {
      const migrator = migratorFor(conn.db);
      const before = await migrator.migrateTo('0006_console_audit');
      expect(before.error).toBeUndefined();
      await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('old', 'Old', 'UTC', 'EUR')`.execute(
        conn.db,
      );
      // u1: standard, the same again (one interval), removed, enterprise; u2: removed only.
      await sql`
        INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, settings, license, billing, record_calls, reasons)
        VALUES ('old', 'u1', '2026-01-01Z', true, '{}', 'standard', 'monthly', false, '[]'),
               ('old', 'u1', '2026-02-01Z', true, '{}', 'standard', 'monthly', false, '[]'),
               ('old', 'u1', '2026-03-01Z', false, '{}', 'standard', 'monthly', false, '[]'),
               ('old', 'u1', '2026-04-01Z', true, '{}', 'enterprise', 'daily', true, '[]'),
               ('old', 'u2', '2026-01-01Z', false, '{}', 'dashboard', 'monthly', false, '[]')
      `.execute(conn.db);
      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      const view = (await listLicenseIntervals(conn.db, 'old')).map(
        (i) =>
          `${i.userId} ${i.validFrom.toISOString().slice(0, 10)}..${i.validTo?.toISOString().slice(0, 10) ?? ''} ${i.license} ${i.billing} ${i.recordCalls}`,
      );
      expect(view).toEqual([
        'u1 2026-01-01..2026-03-01 standard monthly false',
        'u1 2026-04-01.. enterprise daily true',
      ]);
    } finally {
      await conn.close();
    }
  });
});

describe.each(BACKENDS)(
  'migration 0017 (the settings repository writes the one partition) on $name',
  ({ open }) => {
    const plainInsert = (db: Db, userId: string, at: string, license: License) =>
      sql`INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, settings, license, billing, record_calls, reasons)
        VALUES ('m17', ${userId}, ${at}::timestamptz, true, '{}', ${license}, 'monthly', false, '[]')`.execute(
        db,
      );
    const stateOf = async (db: Db) => {
      const versions = await sql<{ user_id: string; n: number }>`
      SELECT user_id, count(*)::int AS n FROM settings_versions WHERE tenant_id = 'm17' GROUP BY 1 ORDER BY 1`.execute(
        db,
      );
      const intervals = (await listLicenseIntervals(db, 'm17')).map(
        (i) =>
          `${i.userId} ${i.validFrom.toISOString().slice(0, 10)}..${i.validTo?.toISOString().slice(0, 10) ?? ''} ${i.license}`,
      );
      return { versions: versions.rows, intervals };
    };

    it('keeps every row down and up, and the trigger follows plain inserts into settings_versions on both schemas', async () => {
      const conn = await open();
      try {
        await addTenant(conn.db, { id: 'm17', name: 'm17', timezone: 'UTC', currency: 'EUR' });
        const parsed = ['a', 'b'].map((u) =>
          parseVersionSpec('m17', {
            userId: u,
            at: '2026-01-01T00:00:00Z',
            license: 'standard',
            billing: 'monthly',
          }),
        );
        await inTransaction(conn.db, (trx) => storeSettingsVersions(trx, parsed, RECEIVED));
        // The repository's rows are in the partition, read through the partitioned table.
        const where = await sql<{ t: string }>`
        SELECT DISTINCT tableoid::regclass::text AS t FROM settings_versions WHERE tenant_id = 'm17'`.execute(
          conn.db,
        );
        expect(where.rows).toEqual([{ t: 'settings_versions_all' }]);
        await plainInsert(conn.db, 'c', '2026-01-01Z', 'enterprise');
        await plainInsert(conn.db, 'a', '2026-02-01Z', 'developer');
        const before = await stateOf(conn.db);
        expect(before.intervals).toEqual([
          'a 2026-01-01..2026-02-01 standard',
          'a 2026-02-01.. developer',
          'b 2026-01-01.. standard',
          'c 2026-01-01.. enterprise',
        ]);

        const migrator = migratorFor(conn.db);
        // Down to before 0017 (0019, the documents as json, and 0018, a function for the
        // import's check, go first).
        const down = await migrator.migrateTo('0016_month_row_base_keys');
        expect(down.error).toBeUndefined();
        expect(down.results?.map((r) => r.migrationName)).toEqual([
          '0019_settings_json_text',
          '0018_settings_batch_expectation',
          '0017_settings_versions_leaf',
        ]);
        expect(await stateOf(conn.db)).toEqual(before);
        await plainInsert(conn.db, 'b', '2026-03-01Z', 'professional');

        expect((await migrator.migrateToLatest()).error).toBeUndefined();
        await plainInsert(conn.db, 'c', '2026-03-01Z', 'dashboard');
        const after = await stateOf(conn.db);
        expect(after.versions).toEqual([
          { user_id: 'a', n: 2 },
          { user_id: 'b', n: 2 },
          { user_id: 'c', n: 2 },
        ]);
        expect(after.intervals).toEqual([
          'a 2026-01-01..2026-02-01 standard',
          'a 2026-02-01.. developer',
          'b 2026-01-01..2026-03-01 standard',
          'b 2026-03-01.. professional',
          'c 2026-01-01..2026-03-01 enterprise',
          'c 2026-03-01.. dashboard',
        ]);
      } finally {
        await conn.close();
      }
    });
  },
);
