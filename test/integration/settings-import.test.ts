import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { parseSettingsVersionLine, storeSettingsVersion } from '../../src/ingest/settings-import.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { markedDays } from '../support/day-marks.ts';

const NOW = new Date('2026-11-20T12:00:00Z');
const lines = (...objs: unknown[]) =>
  Readable.from(`${objs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n')}\n`);

const jana = {
  tenantId: 'acme',
  userId: 'u-1042',
  effectiveAt: '2026-11-03T14:05:00.000+01:00',
  active: true,
  email: 'jana@acme.example',
  lastName: 'Nováková',
  role: 'user',
  permissions: ['communication'],
  skills: ['cz-voice', 'sk-voice'],
  trackStatistics: false,
  recordCalls: true,
  billing: 'daily',
};

describe.each(BACKENDS)('settings import on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
  });
  afterAll(async () => conn?.close());

  it('stores a version with its resolved license', async () => {
    const r = await importSettingsFile(conn.db, lines(jana), () => NOW);
    expect(r).toEqual({ stored: 1, unchanged: 0, refusedTotal: 0, refused: [] });
    const row = await conn.db.selectFrom('settings_versions').selectAll().executeTakeFirstOrThrow();
    expect(row.license).toBe('professional');
    expect(row.billing).toBe('daily');
    expect(row.record_calls).toBe(true);
    expect(row.effective_at.toISOString()).toBe('2026-11-03T13:05:00.000Z');
    expect(row.reasons).toEqual(['R7: 2 distinct skills']);
  });

  it('importing the same file again changes nothing, whatever offset the time is written with', async () => {
    const before = await conn.db.selectFrom('settings_versions').selectAll().execute();
    const r = await importSettingsFile(
      conn.db,
      lines(jana, {
        ...jana,
        effectiveAt: '2026-11-03T13:05:00Z',
        skills: ['sk-voice', 'cz-voice', 'cz-voice'],
      }),
      () => NOW,
    );
    expect(r).toEqual({ stored: 0, unchanged: 2, refusedTotal: 0, refused: [] });
    expect(await conn.db.selectFrom('settings_versions').selectAll().execute()).toEqual(before);
  });

  it('refuses a version whose key exists with other content, naming the user and the time', async () => {
    const r = await importSettingsFile(conn.db, lines({ ...jana, recordCalls: false }), () => NOW);
    expect(r.stored).toBe(0);
    expect(r.refused).toHaveLength(1);
    expect(r.refused[0]?.lineNo).toBe(1);
    expect(r.refused[0]?.reason).toContain('u-1042');
    expect(r.refused[0]?.reason).toContain('2026-11-03T13:05:00.000Z');
    expect(r.refused[0]?.reason).toContain('recordCalls');
  });

  it('refuses a version of a tenant that does not exist, naming it, and stores nothing', async () => {
    const parsed = parseSettingsVersionLine({ ...jana, tenantId: 'nobody' });
    if (!parsed.ok) throw new Error(parsed.reason);
    await expect(storeSettingsVersion(conn.db, parsed.version, NOW)).rejects.toThrow(
      'unknown tenant "nobody"',
    );
    const rows = await conn.db
      .selectFrom('settings_versions')
      .select('user_id')
      .where('tenant_id', '=', 'nobody')
      .execute();
    expect(rows).toEqual([]);
  });

  it('judges every line on its own: good lines stored, bad ones reported by line number', async () => {
    const r = await importSettingsFile(
      conn.db,
      lines(
        { ...jana, userId: 'u-2', effectiveAt: '2026-11-05T00:00:00Z' },
        'not json',
        '',
        { ...jana, userId: 'u-3', effectiveAt: '2026-11-05T10:00:00' },
        { ...jana, userId: 'u-4', tenantId: 'nobody' },
        { ...jana, userId: 'u-5', permissions: ['root'] },
        { ...jana, userId: 'u-6', effectiveAt: '2026-11-06T00:00:00Z', role: 'administrator' },
      ),
      () => NOW,
    );
    expect(r.stored).toBe(2);
    expect(r.refused.map((x) => x.lineNo)).toEqual([2, 4, 5, 6]);
    expect(r.refused[1]?.reason).toContain('effectiveAt');
    expect(r.refused[2]?.reason).toContain('nobody');
    expect(r.refused[3]?.reason).toContain('permissions');
  });

  it('a back-dated version marks every day it touches up to the day of receipt', async () => {
    await conn.db.deleteFrom('day_marks').execute();
    const r = await importSettingsFile(
      conn.db,
      lines({ ...jana, userId: 'u-1042', effectiveAt: '2026-11-01T00:30:00+01:00', skills: ['x'] }),
      () => NOW,
    );
    expect(r.stored).toBe(1);
    const days = await markedDays(conn.db);
    // In force from Nov 1 (Prague) until the existing version of Nov 3 14:05 takes over.
    expect(days.map((d) => d.day)).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
  });
});
