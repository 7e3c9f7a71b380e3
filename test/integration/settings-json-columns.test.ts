/**
 * Migration 0019: a settings version's `settings` and `reasons` are `json`, the exact text the
 * repository wrote, still checked to be JSON; down and up keep every document. On PostgreSQL and
 * PGlite.
 */
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/database.ts';
import { inTransaction } from '../../src/db/transaction.ts';
import { storeSettingsVersions } from '../../src/ingest/settings-import.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { migratorFor } from '../support/migrations.ts';
import { parseVersionSpec } from './bill-day-fixtures.ts';

const RECEIVED = new Date('2030-01-01T00:00:00Z');

const columnTypes = async (db: Db) =>
  (
    await sql<{ column_name: string; type: string }>`
      SELECT a.attname AS column_name, format_type(a.atttypid, a.atttypmod) AS type
      FROM pg_attribute a
      WHERE a.attrelid = 'settings_versions_all'::regclass AND a.attname IN ('settings', 'reasons')
      ORDER BY a.attname`.execute(db)
  ).rows;

const documents = async (db: Db) =>
  (
    await sql<{ user_id: string; settings: unknown; reasons: unknown }>`
      SELECT user_id, settings, reasons FROM settings_versions WHERE tenant_id = 'j19' ORDER BY user_id`.execute(
      db,
    )
  ).rows;

describe.each(BACKENDS)('migration 0019 (settings and reasons as json) on $name', ({ open }) => {
  it('keeps the text the repository wrote, refuses a broken document, and keeps every document down and up', async () => {
    const conn = await open();
    try {
      await addTenant(conn.db, { id: 'j19', name: 'j19', timezone: 'UTC', currency: 'EUR' });
      const versions = [
        parseVersionSpec('j19', { userId: 'a', at: '2026-01-01T00:00:00Z', license: 'enterprise' }),
        parseVersionSpec('j19', {
          userId: 'b',
          at: '2026-01-01T00:00:00Z',
          license: 'professional',
          billing: 'daily',
          recordCalls: true,
        }),
      ];
      await inTransaction(conn.db, (trx) => storeSettingsVersions(trx, versions, RECEIVED));
      expect(await columnTypes(conn.db)).toEqual([
        { column_name: 'reasons', type: 'json' },
        { column_name: 'settings', type: 'json' },
      ]);

      // The exact text written: the normalised settings as the application serialised them.
      const texts = await sql<{ user_id: string; settings: string; reasons: string }>`
        SELECT user_id, settings::text AS settings, reasons::text AS reasons
        FROM settings_versions WHERE tenant_id = 'j19' ORDER BY user_id`.execute(conn.db);
      expect(texts.rows.map((r) => r.settings)).toEqual(versions.map((v) => JSON.stringify(v.settings)));
      expect(texts.rows.map((r) => JSON.parse(r.reasons))).toEqual(versions.map((v) => [...v.reasons]));
      expect(texts.rows.every((r) => r.reasons.startsWith('["'))).toBe(true);

      // Still JSON: a hand-written row with a broken document is refused.
      await expect(
        sql`INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, settings, license, billing, record_calls, reasons)
          VALUES ('j19', 'c', '2026-01-01Z', true, '{"role": ', 'standard', 'monthly', false, '[]')`.execute(
          conn.db,
        ),
      ).rejects.toThrow(/json/i);

      const before = await documents(conn.db);
      expect(before.map((r) => r.settings)).toEqual(versions.map((v) => v.settings));

      const migrator = migratorFor(conn.db);
      const down = await migrator.migrateTo('0018_settings_batch_expectation');
      expect(down.error).toBeUndefined();
      expect(down.results?.map((r) => r.migrationName)).toEqual(['0019_settings_json_text']);
      expect(await columnTypes(conn.db)).toEqual([
        { column_name: 'reasons', type: 'jsonb' },
        { column_name: 'settings', type: 'jsonb' },
      ]);
      expect(await documents(conn.db)).toEqual(before);

      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      expect(await columnTypes(conn.db)).toEqual([
        { column_name: 'reasons', type: 'json' },
        { column_name: 'settings', type: 'json' },
      ]);
      expect(await documents(conn.db)).toEqual(before);
    } finally {
      await conn.close();
    }
  });
});
