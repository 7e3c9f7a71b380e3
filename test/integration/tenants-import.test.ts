import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { listTenants } from '../../src/db/repositories/tenant.repository.ts';
import { importTenantsFile, type TenantRefusal } from '../../src/tenancy/tenant-import.service.ts';
import { BACKENDS } from '../support/backends.ts';

const text = (...lines: unknown[]) =>
  lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');

async function importText(conn: DatabaseConnection, input: string | Buffer) {
  const refusals: TenantRefusal[] = [];
  const result = await importTenantsFile(conn.db, Readable.from([Buffer.from(input)]), (r) =>
    refusals.push(r),
  );
  return { result, refusals };
}

const acme = { id: 'acme', name: 'Acme s.r.o.', timezone: 'Europe/Prague', currency: 'EUR', cutoffHour: 2 };

describe.each(BACKENDS)('tenants import on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
  });
  afterAll(async () => conn?.close());

  it('creates good lines, refuses bad ones naming line and field, and a re-import changes nothing', async () => {
    const file = `${text(
      acme,
      { id: 'tokyo', name: 'Tokyo', timezone: 'Asia/Tokyo', currency: 'JPY', cutoffHour: 5 },
      '',
      { id: 'mars', name: 'Mars', timezone: 'Mars/Olympus', currency: 'EUR' },
      { id: 'kw', name: 'Kuwait', timezone: 'Asia/Kuwait', currency: 'KWD' },
      '{"id": "broken"',
      { id: 'cur', name: 'Cur', timezone: 'UTC', currency: 'XYZ' },
      { id: 'late', name: 'Late', timezone: 'UTC', currency: 'EUR', cutoffHour: 24 },
      { ...acme, name: 'Acme a.s.' },
      { ...acme, cutoffHour: undefined },
    )}\n`;
    const first = await importText(conn, file);
    expect(first.result).toEqual({ created: 3, unchanged: 1, refused: 5 });
    expect(first.refusals.map((r) => r.lineNo)).toEqual([4, 6, 7, 8, 9]);
    expect(first.refusals[0]?.reason).toContain('timezone: "Mars/Olympus" is not an IANA time zone');
    expect(first.refusals[1]?.reason).toMatch(/^not valid JSON/);
    expect(first.refusals[2]?.reason).toContain('currency: "XYZ" is not an ISO 4217 currency code');
    expect(first.refusals[3]?.reason).toMatch(/^cutoffHour: /);
    expect(first.refusals[4]?.reason).toBe(
      'id "acme" is on line 1 with other values: name "Acme a.s." (line 1 "Acme s.r.o.")',
    );
    expect(await listTenants(conn.db)).toEqual([
      acme,
      { id: 'kw', name: 'Kuwait', timezone: 'Asia/Kuwait', currency: 'KWD', cutoffHour: 2 },
      { id: 'tokyo', name: 'Tokyo', timezone: 'Asia/Tokyo', currency: 'JPY', cutoffHour: 5 },
    ]);

    const again = await importText(conn, file);
    expect(again.result).toEqual({ created: 0, unchanged: 4, refused: 5 });
    expect(again.refusals.map((r) => r.lineNo)).toEqual([4, 6, 7, 8, 9]);
    expect((await listTenants(conn.db)).length).toBe(3);
  });

  it('refuses a line that conflicts with a stored tenant, naming the fields, and keeps the good ones', async () => {
    const { result, refusals } = await importText(
      conn,
      text(
        { ...acme, timezone: 'Europe/Vienna', cutoffHour: 3 },
        { id: 'new-one', name: 'New', timezone: 'America/Havana', currency: 'CUP' },
      ),
    );
    expect(result).toEqual({ created: 1, unchanged: 0, refused: 1 });
    expect(refusals).toEqual([
      {
        lineNo: 1,
        reason:
          'tenant "acme" exists with other values: timezone "Europe/Vienna" (stored "Europe/Prague"), cutoffHour 3 (stored 2)',
      },
    ]);
    expect((await listTenants(conn.db)).find((t) => t.id === 'acme')).toEqual(acme);
  });

  it('judges lines that are not text on their own, and imports 2,500 tenants across batches', async () => {
    const bad = Buffer.concat([
      Buffer.from(`${JSON.stringify({ id: 'ok-1', name: 'One', timezone: 'UTC', currency: 'EUR' })}\n`),
      Buffer.from([0x7b, 0xff, 0x7d, 0x0a]),
      Buffer.from(`${JSON.stringify({ id: 'ok-2', name: 'Two', timezone: 'UTC', currency: 'EUR' })}\n`),
    ]);
    const r = await importText(conn, bad);
    expect(r.result).toEqual({ created: 2, unchanged: 0, refused: 1 });
    expect(r.refusals[0]).toMatchObject({ lineNo: 2 });
    expect(r.refusals[0]?.reason).toContain('not valid UTF-8 at byte offset 1');

    const many = Array.from({ length: 2500 }, (_, i) => ({
      id: `t${String(i).padStart(5, '0')}`,
      name: `Tenant ${i}`,
      timezone: i % 2 ? 'Europe/Prague' : 'America/New_York',
      currency: 'EUR',
    }));
    const big = await importText(conn, `${text(...many)}\n`);
    expect(big.result).toEqual({ created: 2500, unchanged: 0, refused: 0 });
    const bigAgain = await importText(conn, `${text(...many)}\n`);
    expect(bigAgain.result).toEqual({ created: 0, unchanged: 2500, refused: 0 });
  });
});
