import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateQueueGauges } from '../../jobs/gauges.ts';
import { type BillingQueues, openQueues } from '../../jobs/queues.ts';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { buildServer } from '../../src/http/server.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';
import { seedPrices, seedTenant } from './jobs-fixtures.ts';

/** 12:00Z on the 20th: in Prague, days 15..19 are billable (cut-off 02:00 local the next day). */
const NOW = new Date('2026-11-20T12:00:00Z');

/** The value of one sample of the Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics of billing serve: billing lag and queue gauges computed at scrape time', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let connection: Redis;
  let queues: BillingQueues;
  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  };

  beforeAll(async () => {
    t = await createTestDatabase();
    await seedPrices(t.db);
    await seedTenant(t.db, 'acme', '2026-11-15T10:00:00Z');
    connection = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    queues = openQueues(connection, testPrefix('metrics'), () => {});
    app = buildServer({
      db: t.db,
      logger: pino({ level: 'silent' }),
      now: () => NOW,
      metrics: [{ name: 'billing_queue_jobs', refresh: () => updateQueueGauges([queues.plan, queues.bill]) }],
    });
  });
  afterAll(async () => {
    await app?.close();
    await queues?.bill.obliterate({ force: true });
    await queues?.plan.obliterate({ force: true });
    await queues?.close();
    await connection?.quit();
    await t?.close();
  });

  it('billing_lag_days counts from the oldest billable day without a current run', async () => {
    expect(sample(await scrape(), 'billing_lag_days{tenant="acme"}')).toBe(5);
    const outcome = await billDay(t.db, { tenantId: 'acme', day: '2026-11-15', trigger: 'manual', now: NOW });
    expect(outcome.status).toBe('billed');
    expect(sample(await scrape(), 'billing_lag_days{tenant="acme"}')).toBe(4);
    for (const day of ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19'])
      await billDay(t.db, { tenantId: 'acme', day, trigger: 'manual', now: NOW });
    const text = await scrape();
    expect(sample(text, 'billing_lag_days{tenant="acme"}')).toBe(0);
    // The runs made in this process are counted here too.
    expect(sample(text, 'billing_runs_total{trigger="manual",outcome="billed"}')).toBe(5);
  });

  it('billing_queue_jobs shows the waiting, delayed and failed jobs of both queues', async () => {
    await queues.bill.add('bill-day', { n: 1 }, { jobId: 'm1' });
    await queues.bill.add('bill-day', { n: 2 }, { jobId: 'm2' });
    await queues.bill.add('bill-day', { n: 3 }, { jobId: 'm3', delay: 3_600_000 });
    await queues.plan.add('plan-night', {}, { jobId: 'p1' });
    const text = await scrape();
    expect(sample(text, 'billing_queue_jobs{queue="bill",state="waiting"}')).toBe(2);
    expect(sample(text, 'billing_queue_jobs{queue="bill",state="delayed"}')).toBe(1);
    expect(sample(text, 'billing_queue_jobs{queue="bill",state="active"}')).toBe(0);
    expect(sample(text, 'billing_queue_jobs{queue="bill",state="failed"}')).toBe(0);
    expect(sample(text, 'billing_queue_jobs{queue="plan",state="waiting"}')).toBe(1);
    await queues.bill.remove('m1');
    expect(sample(await scrape(), 'billing_queue_jobs{queue="bill",state="waiting"}')).toBe(1);
  });

  it('a scrape answers while Redis does not: the queue gauge is skipped, lag still computed', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, lazyConnect: true });
    dead.on('error', () => {});
    const deadQueues = openQueues(dead, testPrefix('dead'), () => {});
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const other = buildServer({
      db: t.db,
      logger,
      now: () => NOW,
      metrics: [{ name: 'billing_queue_jobs', refresh: () => updateQueueGauges([deadQueues.bill]) }],
    });
    try {
      const res = await other.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(sample(res.body, 'billing_lag_days{tenant="acme"}')).toBe(0);
      expect(warnings.join('')).toContain('metric not refreshed for this scrape');
    } finally {
      await other.close();
      await deadQueues.close().catch(() => {});
      dead.disconnect();
    }
  });
});
