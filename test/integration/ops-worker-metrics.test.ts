import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BillingProcess, startBilling } from '../faults/support/stack.ts';
import { freePort } from '../support/services.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';
import { seedPrices, seedTenant } from './jobs-fixtures.ts';

function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('billing worker --metrics-port', () => {
  let t: TestDatabase;
  let worker: BillingProcess | undefined;
  let connection: Redis;
  let bill: Queue;
  const prefix = testPrefix('wmetrics');

  beforeAll(async () => {
    t = await createTestDatabase();
    await seedPrices(t.db);
    await seedTenant(t.db, 'acme', '2026-11-15T10:00:00Z');
    connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    bill = new Queue('bill', { connection, prefix });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await bill?.obliterate({ force: true }).catch(() => {});
    await bill?.close();
    await connection?.quit();
    await t?.close();
  });

  it('serves /healthz and /metrics with the runs this worker billed, and stops cleanly', async () => {
    const port = await freePort();
    worker = startBilling(['worker', '--schedule', '0 0 1 1 *', '--metrics-port', String(port)], {
      DATABASE_URL: t.url,
      REDIS_URL: redisUrl(),
      BILLING_QUEUE_PREFIX: prefix,
      BILLING_STREAM: `${prefix}:events`,
      LOG_LEVEL: 'info',
    });
    const base = `http://127.0.0.1:${port}`;
    const w = worker;
    await waitFor(
      async () => {
        if (w.child.exitCode !== null) throw new Error(`worker exited: ${w.stderr()}`);
        return (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined;
      },
      'the worker health check',
      120_000,
    );
    const health = await fetch(`${base}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });

    await bill.add(
      'bill-day',
      { tenantId: 'acme', day: '2026-11-16', trigger: 'catch-up', now: '2026-11-20T12:00:00Z' },
      { jobId: 'wm-1' },
    );
    await waitFor(
      async () => ((await bill.getJobState('wm-1')) === 'completed' ? true : undefined),
      'the bill-day job to complete',
    );
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, 'billing_runs_total{trigger="catch-up",outcome="billed"}')).toBe(1);
    expect(sample(text, 'billing_queue_jobs{queue="bill",state="waiting"}')).toBe(0);
    expect(text).toMatch(/^billing_process_process_cpu_seconds_total /m);
    expect(text).toMatch(/^billing_run_seconds_count\{trigger="catch-up"\} 1$/m);
    // The worker's logs carry the ids of the job and the run.
    const finished = w
      .stderr()
      .split('\n')
      .find((l) => l.includes('tenant-day run finished'));
    expect(JSON.parse(finished ?? '{}')).toMatchObject({
      tenantId: 'acme',
      day: '2026-11-16',
      jobId: 'wm-1',
    });
    expect(JSON.parse(finished ?? '{}').runId).toMatch(/^\d+$/);

    expect(await w.stop('SIGTERM')).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });

  it('refuses a bad --metrics-port with exit 2', async () => {
    const p = startBilling(['worker', '--metrics-port', 'x'], { REDIS_URL: redisUrl(), DATABASE_URL: t.url });
    expect(await new Promise((r) => p.child.once('exit', r))).toBe(2);
    expect(p.stderr()).toContain('--metrics-port must be an integer');
  });
});
