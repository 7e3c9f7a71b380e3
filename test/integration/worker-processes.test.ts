import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAN_NIGHT, PLAN_QUEUE } from '../../jobs/queues.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';
import { runsOf, seedPrices, seedTenant, startWorkerProcess } from './jobs-fixtures.ts';

/* Two `billing worker` processes on one queue share 60 tenant-days without a duplicate run. */

describe('two worker processes on one queue', () => {
  let conn: TestDatabase;
  const tenants = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedPrices(conn.db);
    for (const t of tenants) await seedTenant(conn.db, t, '2026-10-01T12:00:00+02:00');
  });
  afterAll(async () => conn?.close());

  it('bill 60 tenant-days with exactly one run each, both taking part', async () => {
    const prefix = testPrefix('procs');
    const env = {
      DATABASE_URL: conn.url,
      REDIS_URL: redisUrl(),
      BILLING_QUEUE_PREFIX: prefix,
      BILLING_STREAM: `${prefix}:stream`,
      BILLING_STREAM_GROUP: `${prefix}-group`,
      // The night's 60 tenant-days in 6 `bill-days` jobs, so that both processes get some.
      BILLING_PLAN_CHUNK_DAYS: '10',
    };
    const procs = await Promise.all([startWorkerProcess(env, 3), startWorkerProcess(env, 3)]);
    const plan = new Queue(PLAN_QUEUE, { connection: { url: redisUrl() }, prefix });
    try {
      // 2026-10-01..10-10 is billable at 03:00 on the 11th in Prague: 10 days x 6 tenants.
      await plan.add(PLAN_NIGHT, { now: '2026-10-11T01:00:00Z' });
      const current = await waitFor(async () => {
        const c = (await runsOf(conn.db)).filter((r) => r.is_current);
        return c.length >= 60 ? c : undefined;
      }, '60 current runs');
      expect(new Set(current.map((r) => `${r.tenant_id}/${r.day}`)).size).toBe(60);
      expect(await runsOf(conn.db)).toHaveLength(60);
      for (const p of procs) expect(p.stderr()).toContain('tenant-day run finished');
    } finally {
      for (const p of procs) p.child.kill('SIGTERM');
      const codes = await Promise.all(procs.map((p) => p.exited));
      await plan.close();
      expect(codes).toEqual([0, 0]);
    }
  });
});
