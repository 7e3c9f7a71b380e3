import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BILL_QUEUE, REPLAY_DAY } from '../../jobs/queues.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';
import { drain, runsOf, seedPrices, seedTenant, startTestWorker } from './jobs-fixtures.ts';

const run = promisify(execFile);
const BIN = new URL('../../bin/billing.js', import.meta.url).pathname;

describe('billing queue replay', () => {
  let conn: TestDatabase;
  const prefix = testPrefix('queue-replay');
  const env = () => ({
    ...process.env,
    DATABASE_URL: conn.url,
    REDIS_URL: redisUrl(),
    BILLING_QUEUE_PREFIX: prefix,
  });
  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedPrices(conn.db);
    await seedTenant(conn.db, 'qa', '2026-11-20T08:00:00+01:00');
    await seedTenant(conn.db, 'qb', '2026-11-20T08:00:00+01:00');
  });
  afterAll(async () => conn?.close());

  it('queues one replay-day job per tenant-day, which the workers replay', async () => {
    const { stdout } = await run(
      process.execPath,
      [BIN, 'queue', 'replay', '--day', '2026-11-21', '--to', '2026-11-22'],
      {
        env: env(),
      },
    );
    expect(stdout).toMatch(/^queued 4 replay-day jobs \(2 tenants x 2 days\)/);
    const bill = new Queue(BILL_QUEUE, { connection: { url: redisUrl() }, prefix });
    try {
      const jobs = await bill.getJobs(['waiting']);
      expect(jobs.map((j) => `${j.name} ${j.data.tenantId} ${j.data.day}`).sort()).toEqual([
        `${REPLAY_DAY} qa 2026-11-21`,
        `${REPLAY_DAY} qa 2026-11-22`,
        `${REPLAY_DAY} qb 2026-11-21`,
        `${REPLAY_DAY} qb 2026-11-22`,
      ]);
      expect(jobs.every((j) => j.id?.startsWith(`${REPLAY_DAY}.q`) && !j.id.includes(':'))).toBe(true);
      const worker = await startTestWorker(conn.db, { prefix });
      try {
        await drain([bill]);
      } finally {
        await worker.close(5_000);
      }
      const runs = await runsOf(conn.db);
      expect(runs.map((r) => `${r.tenant_id} ${r.day} ${r.trigger} ${r.is_current}`)).toEqual([
        'qa 2026-11-21 replay true',
        'qa 2026-11-22 replay true',
        'qb 2026-11-21 replay true',
        'qb 2026-11-22 replay true',
      ]);
    } finally {
      await bill.close();
    }
  });

  it('refuses bad usage with exit 2 and a clear message', async () => {
    const fail = (args: string[], extra: Record<string, string> = {}) =>
      run(process.execPath, [BIN, 'queue', 'replay', ...args], { env: { ...env(), ...extra } }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      );
    expect(await fail(['--day', '2026-11-22', '--to', '2026-11-21'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--to 2026-11-21 is before --day 2026-11-22'),
    });
    expect(await fail(['--day', '2026-11-31'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--day: "2026-11-31"'),
    });
    expect(await fail(['--day', '2026-11-21', '--tenant', 'nobody'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown tenant "nobody"'),
    });
    const noRedis = { ...env() } as Record<string, string>;
    delete noRedis.REDIS_URL;
    const r = await run(process.execPath, [BIN, 'queue', 'replay', '--day', '2026-11-21'], {
      env: noRedis,
    }).catch((e) => e);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('needs Redis: set REDIS_URL');
  });
});
