import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from './support/seed.ts';
import {
  type BillingProcess,
  countRows,
  makeEvents,
  type Stack,
  seedTenant,
  startBilling,
  startStack,
} from './support/stack.ts';

const STREAM = 'billing:login-events';
const GROUP = 'billing-ingest';
const MESSAGES = 200;
const PER_MESSAGE = 25;

/** Poison messages: each must become rejects (and be acked) without holding up anything behind it. */
function poisonMessages(): { name: string; field: string; value: string | Buffer; events: number }[] {
  const ev = (eventId: string, userId: string, occurredAt = '2026-11-20T08:00:00Z') => ({
    eventId,
    tenantId: 'acme',
    userId,
    occurredAt,
  });
  return [
    { name: 'NUL in userId', field: 'event', value: JSON.stringify(ev('p-nul', 'u\u0000x')), events: 1 },
    {
      name: 'NUL inside a batch',
      field: 'events',
      value: JSON.stringify([ev('p-in-1', 'v\u0000'), ev('p-in-2', 'w\u0000')]),
      events: 2,
    },
    {
      name: 'invalid UTF-8',
      field: 'event',
      value: Buffer.concat([
        Buffer.from('{"eventId":"p-utf8","tenantId":"acme","userId":"'),
        Buffer.from([0xff]),
        Buffer.from('"}'),
      ]),
      events: 1,
    },
    {
      name: 'year 0000',
      field: 'event',
      value: JSON.stringify(ev('p-ancient', 'u', '0000-01-01T00:00:00Z')),
      events: 1,
    },
    { name: 'not JSON', field: 'event', value: '{"eventId":', events: 1 },
    { name: 'no event field', field: 'evnet', value: '{}', events: 1 },
  ];
}

describe('poison messages on the login-event stream', () => {
  let stack: Stack;
  let redis: Redis;
  let worker: BillingProcess;
  beforeAll(async () => {
    stack = await startStack();
    await seedTenant(stack.db, 'acme');
    redis = new Redis(stack.redis.url, { maxRetriesPerRequest: null, protocol: 2 });
  });
  afterAll(async () => {
    await worker?.stop();
    await redis?.quit();
    await stack?.stop();
  });

  it('each poison message is kept as rejects and acked, every good event behind it is stored, and the counts add up', async () => {
    worker = startBilling(['worker'], stack.env);
    const poison = poisonMessages();
    let sent = 0;
    let good = 0;
    let resent = 0;
    let poisonEvents = 0;
    const goodIds = new Set<string>();
    const every = Math.floor(MESSAGES / poison.length);
    for (let m = 0; m < MESSAGES; m++) {
      const events = makeEvents('acme', m, PER_MESSAGE, 300) as { eventId: string }[];
      for (const e of events) goodIds.add(e.eventId);
      await redis.xadd(STREAM, '*', 'events', JSON.stringify(events));
      sent += events.length;
      good += events.length;
      const p = poison[Math.floor(m / every)];
      if (m % every === 0 && p) {
        // The review's case: a poison message with good ones right behind it.
        await redis.xadd(STREAM, '*', p.field, p.value);
        sent += p.events;
        poisonEvents += p.events;
      }
      if (m % 40 === 39) {
        // A producer that retries: the same message again (its events are duplicates).
        await redis.xadd(STREAM, '*', 'events', JSON.stringify(events));
        sent += events.length;
        resent += events.length;
      }
    }
    expect(poisonEvents).toBe(poison.reduce((n, p) => n + p.events, 0));

    const pending = async () => Number(((await redis.call('XPENDING', STREAM, GROUP)) as [number])[0]);
    const lag = async () => {
      const groups = (await redis.call('XINFO', 'GROUPS', STREAM)) as unknown[][];
      const g = groups.map((x) =>
        Object.fromEntries(Array.from({ length: x.length / 2 }, (_, i) => [x[2 * i], x[2 * i + 1]])),
      )[0];
      return Number(g?.lag ?? -1);
    };
    await waitUntil(
      async () =>
        (await countRows(stack.db)).events === good && (await pending()) === 0 && (await lag()) === 0,
      `every good event stored and every message acked (worker: ${worker.stderr().slice(-500)})`,
      180_000,
    );
    const rows = await countRows(stack.db);
    const { rows: rejects } = await sql<{ n: string }>`
      SELECT count(*) AS n FROM ingest_rejects WHERE source = 'stream'`.execute(stack.db);
    const rejected = Number(rejects[0]?.n);
    expect(rows.events).toBe(goodIds.size);
    expect(rows.logins).toBe(good);
    expect(rejected).toBe(poisonEvents);
    // accepted + duplicates + rejected = sent
    expect(rows.events + resent + rejected).toBe(sent);
    expect(worker.child.exitCode).toBeNull();
    console.log(
      `[fault] hostile stream: ${sent} events sent (${poison.length} poison messages, ${resent} resent): ` +
        `accepted ${rows.events}, duplicates ${resent}, rejected ${rejected}; pending 0`,
    );
  });
});
