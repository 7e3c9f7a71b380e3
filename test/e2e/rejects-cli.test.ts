import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertIngestRejects } from '../../src/db/repositories/ingest-reject.repository.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { runCli } from '../support/cli.ts';
import { createCliDatabase, type TestDatabase } from '../support/test-database.ts';

describe('billing ingest rejects (listing and retention)', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    ({ tdb, env } = await createCliDatabase());
    await addTenant(tdb.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    const rejects = Array.from({ length: 2500 }, (_, i) => ({
      source: 'file' as const,
      tenantId: 'acme',
      eventId: `e${i}`,
      location: `f.ndjson:${i + 1}`,
      raw: `{"eventId":"e${i}"}`,
      reason: 'userId: must not be empty',
    }));
    await insertIngestRejects(tdb.db, rejects, new Date('2026-01-10T00:00:00Z'));
    await insertIngestRejects(
      tdb.db,
      [
        {
          source: 'file',
          tenantId: null,
          eventId: null,
          location: 'x:1',
          raw: new Uint8Array([0, 255]),
          reason: 'not UTF-8',
        },
      ],
      new Date('2026-03-01T00:00:00Z'),
    );
    await sql`UPDATE ingest_rejects SET resolved_at = now() WHERE event_id IN ('e0', 'e1')`.execute(tdb.db);
  });
  afterAll(async () => tdb?.close());

  it('--json streams one JSON array of every open reject, with the stored form of its payload', async () => {
    const r = await runCli(['ingest', 'rejects', '--json'], { env });
    expect(r.code).toBe(0);
    const all = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(all).toHaveLength(2499);
    expect(all[0]).toMatchObject({
      eventId: 'e2',
      tenantId: 'acme',
      raw: '{"eventId":"e2"}',
      rawEncoding: 'utf8',
      rawBytes: 16,
      rawTruncated: false,
      resolvedAt: null,
    });
    expect(all.at(-1)).toMatchObject({ tenantId: null, raw: 'AP8=', rawEncoding: 'base64', rawBytes: 2 });
    const withResolved = await runCli(['ingest', 'rejects', '--tenant', 'acme', '--all', '--json'], { env });
    expect(JSON.parse(withResolved.stdout)).toHaveLength(2500);
  });

  it('purge --before deletes resolved rejects older than the date; --include-open the open ones too', async () => {
    const bad = await runCli(['ingest', 'rejects', 'purge', '--before', 'last week'], { env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--before must be YYYY-MM-DD');
    const resolved = await runCli(['ingest', 'rejects', 'purge', '--before', '2026-02-01'], { env });
    expect(resolved.code).toBe(0);
    expect(resolved.stdout).toContain('deleted 2 resolved rejects received before 2026-02-01T00:00:00.000Z');
    const all = await runCli(
      ['ingest', 'rejects', 'purge', '--before', '2026-02-01T00:00:00Z', '--include-open'],
      { env },
    );
    expect(all.stdout).toContain('deleted 2498 rejects');
    const left = await runCli(['ingest', 'rejects', '--all'], { env });
    expect(left.stdout.trim().split('\n')).toHaveLength(1);
    expect(left.stdout).toContain('not UTF-8');
  });
});
