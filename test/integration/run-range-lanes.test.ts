import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billRange } from '../../src/billing/run-range.service.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { addActivity, addVersions, seedTenant } from './bill-day-fixtures.ts';

const NOW = new Date('2026-12-01T12:00:00Z');
const TENANTS = ['a1', 'b2', 'c3', 'd4', 'e5', 'late'];

async function lines(conn: DatabaseConnection) {
  const { rows } = await sql<{
    tenant_id: string;
    day: string;
    user_id: string;
    item: string;
    amount: string;
  }>`
    SELECT r.tenant_id, r.day, l.user_id, l.item, l.amount::text AS amount
    FROM runs r JOIN charge_lines l ON l.run_id = r.id WHERE r.is_current
    ORDER BY 1, 2, 3, 4`.execute(conn.db);
  return rows;
}

describe('billRange in lanes (real PostgreSQL)', () => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await createTestDatabase();
    for (const [i, id] of TENANTS.entries()) {
      await seedTenant(conn.db, { id, timezone: i % 2 ? 'Asia/Tokyo' : 'America/New_York' });
      const at = id === 'late' ? '2026-11-04T12:00:00Z' : '2026-10-20T12:00:00Z';
      await addVersions(conn.db, id, [
        { userId: 'm', at, license: 'standard' },
        { userId: 'd', at, license: 'professional', billing: 'daily', recordCalls: true },
      ]);
      await addActivity(conn.db, id, '2026-11-02', ['d']);
    }
  });
  afterAll(async () => conn?.close());

  it('bills the same lines as one lane, results in tenant and day order, days before the first day skipped', async () => {
    const range = { from: '2026-11-01', to: '2026-11-03', trigger: 'manual' as const, now: NOW };
    const laned = await billRange(conn.db, { ...range, concurrency: 4 });
    expect(laned.interrupted).toBe(false);
    expect(
      laned.results.map(
        (r) => `${r.tenantId} ${r.day}${'through' in r && r.through ? `..${r.through}` : ''}`,
      ),
    ).toEqual([
      ...TENANTS.filter((t) => t !== 'late').flatMap((t) => [
        `${t} 2026-11-01`,
        `${t} 2026-11-02`,
        `${t} 2026-11-03`,
      ]),
      'late 2026-11-01..2026-11-03',
    ]);
    expect(laned.results.every((r) => 'outcome' in r)).toBe(true);
    const first = await lines(conn);
    expect(first.length).toBeGreaterThan(0);

    // One lane, from scratch: the same lines, byte for byte.
    await sql`TRUNCATE charge_lines, adjustment_lines, console_run_totals, runs`.execute(conn.db);
    const single = await billRange(conn.db, { ...range, concurrency: 1 });
    expect(single.results.map((r) => r.tenantId)).toEqual(laned.results.map((r) => r.tenantId));
    expect(await lines(conn)).toEqual(first);
  });
});
