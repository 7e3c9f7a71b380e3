import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/db/connection.ts';
import { listIngestRejects } from '../../src/db/repositories/ingest-reject.repository.ts';
import { type StreamConsumerOptions, startStreamConsumer } from '../../src/ingest/stream-consumer.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { heldConnectionProxy } from '../support/held-connection-proxy.ts';
import { freePort } from '../support/services.ts';
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
  /** Consumer c1 of group g on `stream`, polling every 100 ms. */
  const consume = (stream: string, more: Partial<StreamConsumerOptions> = {}) =>
    startStreamConsumer({
      db: t.db,
      redisUrl: redisUrl(),
      stream,
      group: 'g',
      consumer: 'c1',
      logger,
      now: () => NOW,
      blockMs: 100,
      ...more,
    });
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
    const consumer = await consume(stream);
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

  it('commits batches in flight; a reused eventId several batches later is a reject, the first one stays', async () => {
    const stream = testPrefix('stream');
    const before = await events();
    for (let i = 0; i < 12; i++) await redis.xadd(stream, '*', 'event', JSON.stringify(ev(`ord${i}`)));
    // Six batches of two later, the same eventId with another user: a conflict with the stored one.
    const reuseId = await redis.xadd(stream, '*', 'event', JSON.stringify(ev('ord1', 'u-other')));
    const consumer = await consume(stream, { count: 2 });
    try {
      await waitFor(async () => {
        const info = ((await redis.call('XINFO', 'GROUPS', stream)) as unknown[][])[0] as unknown[];
        return Number(info[info.indexOf('entries-read') + 1]) === 13 && (await pending(stream, 'g')) === 0;
      }, 'every message read and acked');
      expect(await events()).toBe(before + 12);
      const { rows } = await sql<{
        user_id: string;
      }>`SELECT user_id FROM login_events WHERE event_id = 'ord1'`.execute(t.db);
      expect(rows).toEqual([{ user_id: 'u-1' }]);
      const reject = (await listIngestRejects(t.db, {})).find((r) => r.location === `stream ${reuseId}`);
      expect(reject?.eventId).toBe('ord1');
      expect(reject?.reason).toContain('already stored');
    } finally {
      await consumer.close();
    }
  });

  it('a batch slow to reach the database is overtaken by at most the batch after it: the first of a reused eventId wins', async () => {
    const stream = testPrefix('stream');
    await redis.xadd(stream, '*', 'events', JSON.stringify([ev('slow0'), ev('slow1')]));
    for (let i = 2; i < 12; i++) await redis.xadd(stream, '*', 'event', JSON.stringify(ev(`slow${i}`)));
    await redis.xadd(stream, '*', 'event', JSON.stringify(ev('slow1', 'u-other')));
    // The first batch's first connection is held: its zones lookup and transaction wait, as on
    // a loaded server, while the next batch works on a second connection.
    const proxy = await heldConnectionProxy(t.url);
    const conn = await openPostgres(proxy.url, 4);
    const consumer = await consume(stream, { db: conn.db, count: 1 });
    try {
      await waitFor(async () => (await storedIds('slow')).includes('slow2'), 'the batch after the slow one');
      // Time for any later batch to overtake the held one, before it is let through.
      await new Promise((r) => setTimeout(r, 300));
      expect(await storedIds('slow')).toEqual(['slow2']);
      proxy.release();
      await waitFor(async () => (await pending(stream, 'g')) === 0, 'every message acked');
      const { rows } = await sql<{
        user_id: string;
      }>`SELECT user_id FROM login_events WHERE event_id = 'slow1'`.execute(t.db);
      expect(rows).toEqual([{ user_id: 'u-1' }]);
      expect((await storedIds('slow')).length).toBe(12);
    } finally {
      proxy.release();
      await consumer.close();
      await conn.close();
      await proxy.close();
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

  const storedIds = async (prefix: string) =>
    (
      await sql<{ event_id: string }>`
        SELECT event_id FROM login_events WHERE event_id LIKE ${`${prefix}%`} ORDER BY event_id`.execute(t.db)
    ).rows.map((r) => r.event_id);
  const rejectsOf = async (ids: string[]) =>
    (await listIngestRejects(t.db, {})).filter((r) =>
      ids.some((id) => r.location?.startsWith(`stream ${id}`)),
    );
  const start = (stream: string, consumer: string, extra: { claimIdleMs?: number } = {}) =>
    startStreamConsumer({
      db: t.db,
      redisUrl: redisUrl(),
      stream,
      group: 'g',
      consumer,
      logger,
      now: () => NOW,
      blockMs: 100,
      ...extra,
    });

  it('isolates a poison message: the good ones around it are stored, the poison kept as a reject and acked', async () => {
    const stream = testPrefix('stream');
    const ids: string[] = [];
    const add = async (field: string, value: string | Buffer) => {
      const id = (await redis.xadd(stream, '*', field, value)) as string;
      ids.push(id);
      return id;
    };
    await add('event', JSON.stringify(ev('p-1')));
    const poison = await add('event', JSON.stringify(ev('p-bad1', 'u\u0000x')));
    await add('event', JSON.stringify(ev('p-2')));
    const mixed = await add('events', JSON.stringify([ev('p-3'), ev('p-bad2', 'v\u0000'), ev('p-4')]));
    const binary = await add(
      'event',
      Buffer.concat([
        Buffer.from('{"eventId":"p-bad3","tenantId":"acme","userId":"'),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}'),
      ]),
    );
    await add('event', JSON.stringify(ev('p-5')));
    const consumer = await start(stream, 'c-poison');
    try {
      await waitFor(async () => (await storedIds('p-')).length === 5, 'the good events');
      await waitFor(async () => (await pending(stream, 'g')) === 0, 'every message acked');
      expect(await storedIds('p-')).toEqual(['p-1', 'p-2', 'p-3', 'p-4', 'p-5']);
      const rejects = await rejectsOf(ids);
      expect(rejects.map((r) => r.location).sort()).toEqual(
        [`stream ${binary}`, `stream ${mixed} [1]`, `stream ${poison}`].sort(),
      );
      expect(rejects.find((r) => r.location === `stream ${binary}`)?.reason).toBe(
        'field "event" not valid UTF-8 at byte offset 48',
      );
      // accepted + rejected = sent (8 events in 6 messages)
      expect((await storedIds('p-')).length + rejects.length).toBe(8);
      // a message published afterwards is not held up
      await redis.xadd(stream, '*', 'event', JSON.stringify(ev('p-6')));
      await waitFor(async () => (await storedIds('p-')).includes('p-6'), 'a later message');
    } finally {
      await consumer.close();
    }
  });

  it('isolates a poison message it claimed from a dead consumer the same way', async () => {
    const stream = testPrefix('stream');
    await redis.call('XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM');
    const poison = (await redis.xadd(stream, '*', 'event', JSON.stringify(ev('q-bad', 'u\u0000')))) as string;
    await redis.xadd(stream, '*', 'event', JSON.stringify(ev('q-1')));
    await redis.call('XREADGROUP', 'GROUP', 'g', 'dead', 'COUNT', 10, 'STREAMS', stream, '>');
    expect(await pending(stream, 'g')).toBe(2);
    const live = await start(stream, 'c-claim', { claimIdleMs: 300 });
    try {
      await waitFor(async () => (await pending(stream, 'g')) === 0, "the dead consumer's messages");
      expect(await storedIds('q-')).toEqual(['q-1']);
      expect((await rejectsOf([poison])).map((r) => r.location)).toEqual([`stream ${poison}`]);
    } finally {
      await live.close();
    }
  });

  it('two consumers, batches in flight, messages redelivered and claimed: every event stored and counted once', async () => {
    const stream = testPrefix('stream');
    await redis.call('XGROUP', 'CREATE', stream, 'g', '0', 'MKSTREAM');
    // 60 messages of 5 events; messages 30-59 carry the events of 0-29 again (a producer's retry).
    const body = (m: number) =>
      JSON.stringify(Array.from({ length: 5 }, (_, j) => ev(`w-${m % 30}-${j}`, `u${(m + j) % 4}`)));
    for (let m = 0; m < 60; m++) await redis.xadd(stream, '*', 'events', body(m));
    // A consumer that read ten messages and died: they are claimed by a live one.
    await redis.call('XREADGROUP', 'GROUP', 'g', 'dead', 'COUNT', 10, 'STREAMS', stream, '>');
    const options = { count: 3, inFlight: 3, claimIdleMs: 300 };
    const [a, b] = [
      await consume(stream, { ...options, consumer: 'w-a' }),
      await consume(stream, { ...options, consumer: 'w-b' }),
    ];
    try {
      await waitFor(
        async () => (await pending(stream, 'g')) === 0 && (await storedIds('w-')).length === 150,
        'all acked',
      );
      expect(await storedIds('w-')).toHaveLength(150);
      const { rows } = await sql<{ n: string }>`
        SELECT sum(login_count)::text AS n FROM daily_activity WHERE tenant_id = 'acme' AND user_id IN ('u0', 'u1', 'u2', 'u3')
          AND day = '2026-11-19'`.execute(t.db);
      const { rows: others } = await sql<{ n: string }>`
        SELECT count(*)::text AS n FROM login_events WHERE tenant_id = 'acme' AND user_id IN ('u0', 'u1', 'u2', 'u3')
          AND NOT event_id LIKE 'w-%'`.execute(t.db);
      // The day's activity of these users counts every stored event of theirs once.
      expect(Number(rows[0]?.n)).toBe(150 + Number(others[0]?.n));
      expect((await rejectsOf([])).length).toBe(0);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('acks nothing while the database is down, and stores everything once it is back', async () => {
    const stream = testPrefix('stream');
    await redis.xadd(stream, '*', 'event', JSON.stringify(ev('d-1')));
    await redis.xadd(stream, '*', 'events', JSON.stringify([ev('d-2'), ev('d-3')]));
    const down = await openPostgres(`postgres://postgres@127.0.0.1:${await freePort()}/none`, 1);
    const blind = await startStreamConsumer({
      db: down.db,
      redisUrl: redisUrl(),
      stream,
      group: 'g',
      consumer: 'c-down',
      logger,
      blockMs: 100,
      retryMs: 50,
    });
    try {
      await waitFor(async () => (await pending(stream, 'g')) === 2, 'the messages read');
      // several failed rounds later, still nothing acked and nothing kept as a reject
      await new Promise((r) => setTimeout(r, 1500));
      expect(await pending(stream, 'g')).toBe(2);
    } finally {
      await blind.close();
      await down.close();
    }
    expect(await storedIds('d-')).toEqual([]);
    const back = await start(stream, 'c-down');
    try {
      await waitFor(async () => (await pending(stream, 'g')) === 0, 'the pending messages');
      expect(await storedIds('d-')).toEqual(['d-1', 'd-2', 'd-3']);
    } finally {
      await back.close();
    }
  });
});
