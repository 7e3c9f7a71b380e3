import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { rawBytesOf } from '../../src/db/repositories/ingest-reject.repository.ts';
import { formatReject, streamRejects } from '../../src/ingest/rejects.service.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';

const NOW = new Date('2026-11-20T12:00:00Z');

/** A settings line of acme (the other fields left to their defaults), with `over` on top. */
const version = (userId: string, over: Record<string, unknown> = {}) => ({
  tenantId: 'acme',
  userId,
  effectiveAt: '2026-10-28T09:30:00.000+01:00',
  role: 'team_leader',
  permissions: ['dashboard'],
  ...over,
});

/** A file of good and bad lines; line 3 is not UTF-8 (bytes 0xff 0xfe). */
function file(): Buffer {
  const text = (o: unknown) => Buffer.from(`${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
  return Buffer.concat([
    text(version('u-1')), // 1: good
    text('{"tenantId": "acme", "userId": '), // 2: not JSON
    Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), // 3: not UTF-8
    text(version('u-2', { role: 'pilot' })), // 4: bad role
    text(version('u-3', { tenantId: 'nobody' })), // 5: unknown tenant
    text(version('u-4')), // 6: good
    text(version('u-1', { recordCalls: true, role: 'administrator' })), // 7: same key as line 1, other settings
  ]);
}

describe.each(BACKENDS)('refused settings lines kept as rejects on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
  });
  afterAll(async () => conn?.close());

  const kept = async () => {
    const all = [];
    for await (const r of streamRejects(conn.db)) all.push(r);
    return all;
  };

  it('stores the good lines and keeps every refused one with its reason, line and file', async () => {
    const r = await importSettingsFile(conn.db, Readable.from([file()]), () => NOW, { name: 'users.ndjson' });
    expect(r.stored).toBe(2);
    expect(r.refused.map((x) => x.lineNo)).toEqual([2, 3, 4, 5, 7]);
    const users = await conn.db
      .selectFrom('settings_versions')
      .select('user_id')
      .orderBy('user_id')
      .execute();
    expect(users.map((u) => u.user_id)).toEqual(['u-1', 'u-4']);

    const rejects = await kept();
    expect(rejects.map((x) => x.location).sort()).toEqual(
      ['users.ndjson:2', 'users.ndjson:3', 'users.ndjson:4', 'users.ndjson:5', 'users.ndjson:7'].sort(),
    );
    const at = (line: number) => rejects.find((x) => x.location === `users.ndjson:${line}`);
    for (const x of rejects) {
      expect(x.source).toBe('settings-file');
      expect(x.eventId).toBeNull();
      expect(x.resolvedAt).toBeNull();
      expect(x.receivedAt.toISOString()).toBe(NOW.toISOString());
      // The reason reported by the import is the one kept.
      const lineNo = Number(x.location?.split(':')[1]);
      expect(x.reason).toBe(r.refused.find((y) => y.lineNo === lineNo)?.reason);
    }
    expect(at(2)?.raw).toBe('{"tenantId": "acme", "userId": ');
    expect(at(2)?.tenantId).toBeNull();
    expect(at(3)?.rawEncoding).toBe('base64');
    expect([...rawBytesOf(at(3) as NonNullable<ReturnType<typeof at>>)]).toEqual([0x7b, 0xff, 0xfe, 0x7d]);
    expect(at(4)?.reason).toMatch(/role/);
    expect(at(4)?.tenantId).toBe('acme');
    expect(JSON.parse(at(4)?.raw ?? '')).toEqual(version('u-2', { role: 'pilot' }));
    expect(at(5)?.reason).toBe('tenantId: unknown tenant "nobody"');
    expect(at(5)?.tenantId).toBeNull();
    // Refused by what is already stored (line 1's version of the same instant), not by its shape.
    expect(at(7)?.tenantId).toBe('acme');
    expect(JSON.parse(at(7)?.raw ?? '')).toEqual(
      version('u-1', { recordCalls: true, role: 'administrator' }),
    );
    expect(at(7)?.reason).toContain('u-1');
    // The listing of `billing ingest rejects` shows them.
    expect(formatReject(at(5) as NonNullable<ReturnType<typeof at>>)).toContain(
      'settings-file\t-\t-\tusers.ndjson:5',
    );
  });

  it('a re-import keeps no second copy of the same open rejects', async () => {
    const before = await kept();
    const r = await importSettingsFile(conn.db, Readable.from([file()]), () => NOW, { name: 'users.ndjson' });
    expect(r).toMatchObject({ stored: 0, unchanged: 2, refusedTotal: 5 });
    expect(await kept()).toEqual(before);
  });

  it('a file without refused lines keeps nothing', async () => {
    const before = (await kept()).length;
    const r = await importSettingsFile(
      conn.db,
      Readable.from([`${JSON.stringify(version('u-9'))}\n`]),
      () => NOW,
    );
    expect(r).toEqual({ stored: 1, unchanged: 0, refusedTotal: 0, refused: [] });
    expect(await kept()).toHaveLength(before);
  });
});
