import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAN_NIGHT } from '../../jobs/queues.ts';
import { type BillingWorker, startBillingWorker } from '../../jobs/worker.ts';
import { startStreamConsumer } from '../../src/ingest/stream-consumer.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { type LocalRedis, startLocalRedis } from '../support/services.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';

const event = (eventId: string) =>
  JSON.stringify({ eventId, tenantId: 'acme', userId: 'u-1', occurredAt: '2026-11-19T10:00:00Z' });

describe('a worker whose Redis restarts empty (no persistence)', () => {
  let t: TestDatabase;
  let redis: LocalRedis;
  let worker: BillingWorker | undefined;
  let consumer: { close(): Promise<void> } | undefined;
  let client: Redis;

  beforeAll(async () => {
    t = await createTestDatabase();
    await addTenant(t.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    redis = await startLocalRedis({ appendOnly: false });
    client = new Redis(redis.url, { maxRetriesPerRequest: null, protocol: 2 });
    client.on('error', () => {});
  });
  afterAll(async () => {
    await consumer?.close();
    await worker?.close(1_000);
    client?.disconnect();
    await redis?.stop();
    await t?.close();
  });

  it('keeps running, re-registers the schedule and recreates the stream consumer group', async () => {
    const logger = pino({ level: 'silent' });
    worker = await startBillingWorker({
      db: t.db,
      redisUrl: redis.url,
      prefix: 'billing',
      concurrency: 1,
      logger,
      schedule: { pattern: '0 0 1 1 *', source: '--schedule' },
      gaugeIntervalMs: 300,
    });
    consumer = await startStreamConsumer({
      db: t.db,
      redisUrl: redis.url,
      stream: 'billing:login-events',
      group: 'billing-ingest',
      consumer: 'c1',
      logger,
      blockMs: 200,
    });
    const w = worker;
    const schedulers = async () => (await w.queues.plan.getJobSchedulers()).map((s) => s.key);
    expect(await schedulers()).toEqual([PLAN_NIGHT]);
    const stored = async () => (await t.db.selectFrom('login_events').select('event_id').execute()).length;
    await client.xadd('billing:login-events', '*', 'event', event('before'));
    await waitFor(async () => ((await stored()) === 1 ? true : undefined), 'the first event');

    await client.set('ops-marker', '1');
    await redis.restart(500);
    expect(await client.exists('ops-marker')).toBe(0); // the data is gone

    await waitFor(
      async () => ((await schedulers().catch((): string[] => [])).includes(PLAN_NIGHT) ? true : undefined),
      'the plan-night schedule to come back',
    );
    await client.xadd('billing:login-events', '*', 'event', event('after'));
    await waitFor(
      async () => ((await stored()) === 2 ? true : undefined),
      'the event sent after the restart',
    );
    const groups = (await client.call('XINFO', 'GROUPS', 'billing:login-events')) as unknown[][];
    expect(groups.length).toBe(1);
  });
});
