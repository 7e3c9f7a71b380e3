import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateLagGauge, updateQueueGauges } from '../../jobs/gauges.ts';
import { type BillingQueues, openQueues } from '../../jobs/queues.ts';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { type MetricsRefreshLoop, startMetricsRefresh } from '../../src/http/metrics-refresh.ts';
import { buildServer } from '../../src/http/server.ts';
import { buildStatusServer } from '../../src/http/status-server.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';
import { seedPrices, seedTenant } from './jobs-fixtures.ts';

/** 12:00Z on the 20th: in Prague, days 15..19 are billable (cut-off 02:00 local the next day). */
const NOW = new Date('2026-11-20T12:00:00Z');

/** The value of one sample of the Prometheus text, or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('GET /metrics on the status port: billing lag and queue gauges from the refresh timer', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  let connection: Redis;
  let queues: BillingQueues;
  let refresh: MetricsRefreshLoop;
  /** Scrapes after a refresh: the tests below check what the refresher computes. */
  const scrape = async () => {
    await refresh.refreshNow();
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
    const logger = pino({ level: 'silent' });
    app = buildStatusServer({ db: t.db, logger });
    // An hour between turns: only refreshNow() refreshes in these tests.
    refresh = startMetricsRefresh(
      [
        { name: 'billing_lag_days', refresh: () => updateLagGauge(t.db, NOW) },
        { name: 'billing_queue_jobs', refresh: () => updateQueueGauges([queues.plan, queues.bill]) },
      ],
      { intervalMs: 3_600_000, logger },
    );
  });
  afterAll(async () => {
    await refresh?.stop();
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

  it('a refresh while Redis does not answer: the queue gauge keeps its value, lag is still refreshed', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 1, lazyConnect: true });
    dead.on('error', () => {});
    const deadQueues = openQueues(dead, testPrefix('dead'), () => {});
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const other = startMetricsRefresh(
      [
        { name: 'billing_lag_days', refresh: () => updateLagGauge(t.db, NOW) },
        { name: 'billing_queue_jobs', refresh: () => updateQueueGauges([deadQueues.bill]) },
      ],
      { intervalMs: 3_600_000, timeoutMs: 1_000, logger },
    );
    try {
      await other.refreshNow();
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(sample(res.body, 'billing_lag_days{tenant="acme"}')).toBe(0);
      expect(sample(res.body, 'billing_queue_jobs{queue="bill",state="waiting"}')).toBe(1);
      expect(warnings.join('')).toContain('metric not refreshed: it keeps its last value');
      // The first turn timed out; the hung one is not started again while it runs.
      const failed = 'billing_metrics_refreshes_total{metric="billing_queue_jobs",outcome="failed"}';
      expect(sample(res.body, failed)).toBeGreaterThanOrEqual(1);
    } finally {
      await other.stop();
      await deadQueues.close().catch(() => {});
      dead.disconnect();
    }
  });
});

describe('metrics are refreshed by a timer, never by a scrape', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  const logger = pino({ level: 'silent' });
  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  };
  const refreshes = (text: string, metric: string, outcome = 'ok') =>
    sample(text, `billing_metrics_refreshes_total{metric="${metric}",outcome="${outcome}"}`) ?? 0;

  beforeAll(async () => {
    t = await createTestDatabase();
    await seedPrices(t.db);
    await seedTenant(t.db, 'zeta', '2026-11-15T10:00:00Z');
    app = buildStatusServer({ db: t.db, logger });
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('scrapes inside the interval serve the same snapshot: no query, however many scrapes', async () => {
    let lagQueries = 0;
    const refresh = startMetricsRefresh(
      [
        {
          name: 'lag_snapshot_test',
          refresh: async () => {
            lagQueries += 1;
            await updateLagGauge(t.db, NOW);
          },
        },
      ],
      { intervalMs: 3_600_000, logger },
    );
    try {
      await refresh.refreshNow(); // waits for the first turn (started at once) and runs one more
      const first = await scrape();
      expect(sample(first, 'billing_lag_days{tenant="zeta"}')).toBe(5);
      const queriesBefore = lagQueries;
      // The lag changes in the database, and 30 scrapes arrive at once.
      await billDay(t.db, { tenantId: 'zeta', day: '2026-11-15', trigger: 'manual', now: NOW });
      const texts = await Promise.all(Array.from({ length: 30 }, () => scrape()));
      expect(lagQueries).toBe(queriesBefore);
      for (const text of texts) {
        expect(sample(text, 'billing_lag_days{tenant="zeta"}')).toBe(5);
        expect(refreshes(text, 'lag_snapshot_test')).toBe(refreshes(first, 'lag_snapshot_test'));
      }
      // The next turn of the timer sees the change.
      await refresh.refreshNow();
      expect(lagQueries).toBe(queriesBefore + 1);
      expect(sample(await scrape(), 'billing_lag_days{tenant="zeta"}')).toBe(4);
    } finally {
      await refresh.stop();
    }
  });

  it('refreshes on its own every interval, and a slow refresh never overlaps itself', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const refresh = startMetricsRefresh(
      [
        {
          name: 'slow_refresh_test',
          refresh: async () => {
            running += 1;
            runs += 1;
            maxRunning = Math.max(maxRunning, running);
            await new Promise((r) => setTimeout(r, 250)); // longer than the interval
            running -= 1;
          },
        },
      ],
      { intervalMs: 100, timeoutMs: 1_000, logger },
    );
    try {
      await waitFor(async () => (runs >= 3 ? true : undefined), 'three timer refreshes');
      const text = await scrape();
      expect(maxRunning).toBe(1);
      expect(refreshes(text, 'slow_refresh_test', 'skipped')).toBeGreaterThan(0);
      expect(refreshes(text, 'slow_refresh_test')).toBeGreaterThanOrEqual(2);
    } finally {
      await refresh.stop();
    }
    const stopped = runs;
    await new Promise((r) => setTimeout(r, 400));
    expect(runs).toBe(stopped);
  });
});

describe('the public port of billing serve', () => {
  it('has no /metrics: the series name tenants', async () => {
    const t = await createTestDatabase();
    const app = buildServer({ db: t.db, logger: pino({ level: 'silent' }) });
    try {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(404);
      expect(res.body).not.toContain('billing_');
    } finally {
      await app.close();
      await t.close();
    }
  });
});
