import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listIngestRejects } from '../../src/db/repositories/ingest-reject.repository.ts';
import { startStreamConsumer } from '../../src/ingest/stream-consumer.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';

const NOW = new Date('2026-11-20T12:00:00Z');
const logger = pino({ level: 'silent' });
const ev = (eventId: string, userId = 'u-1') => ({
  eventId,
  tenantId: 'acme',
  userId,
  occurredAt: '2026-11-19T10:00:00Z',
});

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('Redis stream consumer', () => {
  let t: TestDatabase;
  let redis: Redis;
  const events = async () =>
    Number(
      (
        await t.db
          .selectFrom('login_events')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const pending = async (stream: string, group: string) =>
    Number(((await redis.call('XPENDING', stream, group)) as [number])[0]);

  beforeAll(async () => {
    t = await createTestDatabase();
    await addTenant(t.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: null, protocol: 2 });
  });
  afterAll(async () => {
    await redis?.quit();
    await t?.close();
  });

  it('ingests both message formats, keeps a bad message as a reject, and acks everything after commit', async () => {
    const stream = testPrefix('stream');
    await redis.xadd(stream, '*', 'event', JSON.stringify(ev('s1')));
    await redis.xadd(
      stream,
      '*',
      'events',
      JSON.stringify([ev('s2'), ev('s3'), ev('s1'), { ...ev('s4'), userId: '' }]),
    );
    const badId = await redis.xadd(stream, '*', 'event', '{oops');
    await redis.xadd(stream, '*', 'other', 'x');
    const consumer = await startStreamConsumer({
      db: t.db,
      redisUrl: redisUrl(),
      stream,
      group: 'g',
      consumer: 'c1',
      logger,
      now: () => NOW,
      blockMs: 100,
    });
    try {
      await waitFor(async () => (await listIngestRejects(t.db, {})).length >= 3, 'rejects');
      await waitFor(async () => (await pending(stream, 'g')) === 0, 'acks');
      expect(await events()).toBe(3);
      const rejects = await listIngestRejects(t.db, {});
      expect(rejects.every((r) => r.source === 'stream')).toBe(true);
      const locations = rejects.map((r) => r.location ?? '');
      expect(locations.filter((l) => /^stream \d+-\d+ \[3\]$/.test(l))).toHaveLength(1);
      expect(locations).toContain(`stream ${badId}`);
      expect(rejects.find((r) => r.location === `stream ${badId}`)?.raw).toBe('{oops');
      expect(rejects.some((r) => r.reason.includes('neither an "event" nor an "events" field'))).toBe(true);
      // a message published while it runs
      await redis.xadd(stream, '*', 'event', JSON.stringify(ev('s5')));
      await waitFor(async () => (await events()) === 4, 'the new message');
    } finally {
      await consumer.close();
    }
  });

  it('processes the messages a killed consumer left pending, exactly once', async () => {
    const stream = testPrefix('stream');
    await redis.call('XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM');
    for (let i = 0; i < 50; i++) {
      await redis.xadd(
        stream,
        '*',
        'events',
        JSON.stringify(Array.from({ length: 20 }, (_, j) => ev(`k${i}-${j}`, `u${j}`))),
      );
    }
    // A consumer that read the messages and died before acking: they stay pending on it.
    const read = (await redis.call(
      'XREADGROUP',
      'GROUP',
      'g',
      'dead',
      'COUNT',
      30,
      'STREAMS',
      stream,
      '>',
    )) as unknown[];
    expect(read).toHaveLength(1);
    expect(await pending(stream, 'g')).toBe(30);
    const before = await events();
    const live = await startStreamConsumer({
      db: t.db,
      redisUrl: redisUrl(),
      stream,
      group: 'g',
      consumer: 'live',
      logger,
      now: () => NOW,
      blockMs: 100,
      claimIdleMs: 300,
    });
    try {
      await waitFor(async () => (await pending(stream, 'g')) === 0, "the dead consumer's messages");
      expect((await events()) - before).toBe(1000);
      const { total } = await t.db
        .selectFrom('daily_activity')
        .select((eb) => eb.fn.sum<string>('login_count').as('total'))
        .where('user_id', 'like', 'u%')
        .where('user_id', '!=', 'u-1')
        .executeTakeFirstOrThrow();
      expect(Number(total)).toBe(1000);
      const consumers = (await redis.call('XINFO', 'CONSUMERS', stream, 'g')) as unknown[][];
      const dead = consumers
        .map((c) =>
          Object.fromEntries(Array.from({ length: c.length / 2 }, (_, i) => [c[2 * i], c[2 * i + 1]])),
        )
        .find((c) => c.name === 'dead');
      expect(dead?.pending).toBe(0);
    } finally {
      await live.close();
    }
  });
});
