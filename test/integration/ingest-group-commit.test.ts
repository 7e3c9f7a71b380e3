import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { listIngestRejects } from '../../src/db/repositories/ingest-reject.repository.ts';
import { buildServer } from '../../src/http/server.ts';
import {
  type BatchResult,
  EventIngestor,
  type IngestContext,
  type IngestItem,
} from '../../src/ingest/event-ingest.service.ts';
import { decodedEventItem } from '../../src/ingest/event-line.parser.ts';
import { GroupCommit } from '../../src/ingest/group-commit.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const NOW = new Date('2026-11-20T12:00:00Z');
const ev = (eventId: string, userId = 'u-1', tenantId = 'acme', occurredAt = '2026-11-19T10:00:00Z') => ({
  eventId,
  tenantId,
  userId,
  occurredAt,
});

/** The items of one HTTP request of `tenant`'s key, as the route builds them. */
const request = (tenant: string, events: unknown[]): IngestItem[] => {
  const origin = { allowedTenant: tenant };
  return events.map((v, i) => decodedEventItem(v, () => `http batch index ${i}`, origin));
};

/** The real ingestor, which records how many requests each transaction held (and can lose one). */
class ProbedIngestor extends EventIngestor {
  readonly groupSizes: number[] = [];
  failNextGroup = false;
  /** Shared transactions open now, and the most ever open at once. */
  #open = 0;
  mostOpen = 0;
  override async ingestGroups(
    groups: readonly (readonly IngestItem[])[],
    ctx: IngestContext,
  ): Promise<BatchResult[]> {
    this.groupSizes.push(groups.length);
    if (this.failNextGroup && groups.length > 1) {
      this.failNextGroup = false;
      throw new Error('connection lost in the shared transaction');
    }
    this.mostOpen = Math.max(this.mostOpen, ++this.#open);
    try {
      return await super.ingestGroups(groups, ctx);
    } finally {
      this.#open -= 1;
    }
  }
}

// Every case on both backends and, on PostgreSQL, both write paths (a shared transaction of
// three small requests stays below COPY_MIN_EVENTS: forced here).
const VARIANTS = [
  ...BACKENDS.map((b) => ({ ...b, copyMinEvents: undefined as number | undefined })),
  { name: 'postgres, COPY path', open: BACKENDS[0].open, copyMinEvents: 0 },
];

describe.each(VARIANTS)('group commit on $name', ({ open, copyMinEvents }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    for (const id of ['acme', 'beta'])
      await addTenant(conn.db, { id, name: id, timezone: 'Europe/Prague', currency: 'EUR' });
  });
  afterAll(async () => conn?.close());

  const stored = async (prefix: string) =>
    (
      await conn.db
        .selectFrom('login_events')
        .select(['tenant_id', 'event_id', 'user_id'])
        .where('event_id', 'like', `${prefix}%`)
        .orderBy('tenant_id')
        .orderBy('event_id')
        .execute()
    ).map((r) => `${r.tenant_id}/${r.event_id}/${r.user_id}`);

  it('answers each request of a shared transaction with its own counts and positions', async () => {
    const ingestor = new ProbedIngestor(conn.db, () => NOW, { copyMinEvents });
    const commits = new GroupCommit(ingestor, { source: 'http' }, { maxInFlight: 1 });
    // The first request takes the only slot; the three sent while it commits share one transaction.
    const first = commits.submit(request('acme', [ev('g-0')]));
    const [a, b, c] = [
      commits.submit(
        request('acme', [
          ev('g-1'),
          { ...ev('g-2'), occurredAt: 'soon' }, // bad: a reject of a
          ev('g-9', 'u-1', 'beta'), // another tenant than the key's: a reject of a
        ]),
      ),
      commits.submit(
        request('acme', [
          ev('g-3'),
          ev('g-1'), // a's event again, same content: a duplicate for b
          ev('g-4'),
          ev('g-1', 'u-other'), // a's eventId with other content: a reject of b
        ]),
      ),
      commits.submit(request('beta', [ev('g-1', 'u-beta', 'beta'), ev('g-0', 'u-1', 'beta')])),
    ];
    expect(await first).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const answers = await Promise.all([a, b, c]);
    expect(ingestor.groupSizes).toEqual([1, 3]);
    expect(answers[0]).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [
        { index: 1, eventId: 'g-2', reason: expect.stringContaining('occurredAt') },
        {
          index: 2,
          eventId: 'g-9',
          reason: 'tenantId: "beta" may not be written with a key of tenant "acme"',
        },
      ],
    });
    expect(answers[1]).toEqual({
      accepted: 2,
      duplicates: 1,
      rejected: [
        {
          index: 3,
          eventId: 'g-1',
          reason: expect.stringContaining(
            '"g-1" of tenant "acme" arrived in a concurrent request with other content',
          ),
        },
      ],
    });
    // beta's g-1 and g-0 are other keys than acme's: both new.
    expect(answers[2]).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    // Nothing lost, nothing doubled.
    expect(await stored('g-')).toEqual([
      'acme/g-0/u-1',
      'acme/g-1/u-1',
      'acme/g-3/u-1',
      'acme/g-4/u-1',
      'beta/g-0/u-1',
      'beta/g-1/u-beta',
    ]);
    const activity = await conn.db
      .selectFrom('daily_activity')
      .select(['tenant_id', 'user_id', 'login_count'])
      .where('day', '=', '2026-11-19')
      .where('user_id', 'in', ['u-1', 'u-beta', 'u-other'])
      .orderBy('tenant_id')
      .orderBy('user_id')
      .execute();
    expect(activity.map((r) => `${r.tenant_id}/${r.user_id}/${r.login_count}`)).toEqual([
      'acme/u-1/4',
      'beta/u-1/1',
      'beta/u-beta/1',
    ]);
    // Each reject kept once, owned by its request's key tenant (a's claim of beta stays acme's).
    const rejects = (await listIngestRejects(conn.db, { includeResolved: true }))
      .filter((r) => r.eventId?.startsWith('g-'))
      .map((r) => `${r.tenantId}/${r.eventId}/${r.location}`)
      .sort();
    expect(rejects).toEqual([
      'acme/g-1/http batch index 3',
      'acme/g-2/http batch index 1',
      'acme/g-9/http batch index 2',
    ]);
  });

  it('retries each request alone when the shared transaction fails: nothing lost, nothing doubled', async () => {
    const ingestor = new ProbedIngestor(conn.db, () => NOW, { copyMinEvents });
    const commits = new GroupCommit(ingestor, { source: 'http' }, { maxInFlight: 1 });
    const first = commits.submit(request('acme', [ev('f-0')]));
    ingestor.failNextGroup = true;
    const a = commits.submit(request('acme', [ev('f-1'), ev('f-2')]));
    const b = commits.submit(request('acme', [ev('f-2'), ev('f-3'), { ...ev('f-4'), userId: '' }]));
    await first;
    expect(await a).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect(await b).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [{ index: 2, eventId: 'f-4', reason: expect.stringContaining('userId') }],
    });
    expect(ingestor.groupSizes).toEqual([1, 2]);
    expect(await stored('f-')).toEqual(['acme/f-0/u-1', 'acme/f-1/u-1', 'acme/f-2/u-1', 'acme/f-3/u-1']);
  });

  it('two shared transactions at once (as `serve` runs): the same events in both are stored once', async () => {
    const ingestor = new ProbedIngestor(conn.db, () => NOW, { copyMinEvents });
    const commits = new GroupCommit(ingestor, { source: 'http' }, { maxInFlight: 2, maxEvents: 4 });
    // The first two requests take both slots at once and carry the same two events (one of them
    // with other content in the second); the next three wait and share the next transactions.
    const answers = await Promise.all([
      commits.submit(request('acme', [ev('t-1'), ev('t-2'), ev('t-3')])),
      commits.submit(request('acme', [ev('t-1'), ev('t-2', 'u-other'), ev('t-4')])),
      commits.submit(request('acme', [ev('t-3'), ev('t-5')])),
      commits.submit(request('acme', [ev('t-6')])),
      commits.submit(request('beta', [ev('t-1', 'u-1', 'beta')])),
    ]);
    expect(ingestor.mostOpen).toBe(2);
    expect(ingestor.groupSizes.slice(0, 2)).toEqual([1, 1]);
    // Whichever of the first two stored t-1 and t-2 first accepted them; the other saw t-1 as a
    // duplicate and t-2 (other content) as a reject. Every answer covers its own events.
    const [a, b] = answers;
    const aFirst = a.rejected.length === 0;
    expect(aFirst ? a : b).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(aFirst ? b : a).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: [{ index: 1, eventId: 't-2', reason: expect.stringContaining('other content') }],
    });
    expect(answers.slice(2)).toEqual([
      { accepted: 1, duplicates: 1, rejected: [] },
      { accepted: 1, duplicates: 0, rejected: [] },
      { accepted: 1, duplicates: 0, rejected: [] },
    ]);
    expect(await stored('t-')).toEqual([
      'acme/t-1/u-1',
      `acme/t-2/${aFirst ? 'u-1' : 'u-other'}`,
      'acme/t-3/u-1',
      'acme/t-4/u-1',
      'acme/t-5/u-1',
      'acme/t-6/u-1',
      'beta/t-1/u-1',
    ]);
  });

  it('a request bigger than the group limit goes alone; the others are grouped up to it', async () => {
    const ingestor = new ProbedIngestor(conn.db, () => NOW, { copyMinEvents });
    const commits = new GroupCommit(ingestor, { source: 'http' }, { maxInFlight: 1, maxEvents: 3 });
    const first = commits.submit(request('acme', [ev('m-0')]));
    const rest = [
      commits.submit(request('acme', [ev('m-1'), ev('m-2')])),
      commits.submit(request('acme', [ev('m-3')])),
      commits.submit(request('acme', [ev('m-4'), ev('m-5'), ev('m-6'), ev('m-7')])),
    ];
    await first;
    const answers = await Promise.all(rest);
    expect(answers.map((r) => r.accepted)).toEqual([2, 1, 4]);
    expect(ingestor.groupSizes).toEqual([1, 2, 1]);
    expect((await stored('m-')).length).toBe(8);
  });
});

describe('group commit over HTTP (PostgreSQL, concurrent requests of several keys)', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  const keys = new Map<string, string>();
  beforeAll(async () => {
    t = await createTestDatabase();
    for (const id of ['acme', 'beta']) {
      await addTenant(t.db, { id, name: id, timezone: 'Europe/Prague', currency: 'EUR' });
      keys.set(id, await createApiKey(t.db, id));
    }
    app = buildServer({ db: t.db, logger: pino({ level: 'silent' }), now: () => NOW });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('twelve concurrent requests, one bad event in some: each answer its own, every event once', async () => {
    const bodies = Array.from({ length: 12 }, (_, r) => {
      const tenant = r % 2 === 0 ? 'acme' : 'beta';
      const events: unknown[] = Array.from({ length: 300 }, (_, i) =>
        ev(`h-${Math.floor(r / 2)}-${i}`, `u${i % 5}`, tenant),
      );
      if (r % 3 === 0) events[7] = { ...ev(`h-bad-${r}`, 'u', tenant), occurredAt: 'later' };
      // Requests 0 and 2 (both acme) overlap by 100 events: the second one's are duplicates.
      if (r === 2) for (let i = 0; i < 100; i++) events[200 + i] = ev(`h-0-${i + 100}`, `u${(i + 100) % 5}`);
      return { tenant, body: JSON.stringify({ events }) };
    });
    const responses = await Promise.all(
      bodies.map((b) =>
        app.inject({
          method: 'POST',
          url: '/v1/login-events',
          headers: { authorization: `Bearer ${keys.get(b.tenant)}`, 'content-type': 'application/json' },
          payload: b.body,
        }),
      ),
    );
    const answers = responses.map((r) => {
      expect(r.statusCode).toBe(200);
      return r.json() as BatchResult;
    });
    for (const [r, answer] of answers.entries()) {
      const bad = r % 3 === 0 ? 1 : 0;
      expect(answer.rejected.map((x) => x.index)).toEqual(bad ? [7] : []);
      expect(answer.accepted + answer.duplicates + answer.rejected.length).toBe(300);
    }
    // Requests 0 and 2 overlap by 100 events: whichever committed first accepted them.
    expect((answers[0]?.duplicates ?? 0) + (answers[2]?.duplicates ?? 0)).toBe(100);
    const total = answers.reduce((s, a) => s + a.accepted, 0);
    const rows = await t.db
      .selectFrom('login_events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('event_id', 'like', 'h-%')
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(total);
    expect(total).toBe(12 * 300 - 4 - 100);
    const counted = await t.db
      .selectFrom('daily_activity')
      .select((eb) => eb.fn.sum<string>('login_count').as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(counted.n)).toBe(total);
  });
});
