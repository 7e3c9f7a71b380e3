import { describe, expect, it } from 'vitest';
import { enqueueBillDays } from '../../jobs/enqueue.ts';
import type { ChunkOutcome } from '../../jobs/processors/bill-days.processor.ts';
import { PLAN_NIGHT } from '../../jobs/queues.ts';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import { testPrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';
import {
  drain,
  holdDayLock,
  lockWaiters,
  PRICES,
  runsOf,
  seedTenant,
  useBillingDatabase,
  useTestWorkers,
} from './jobs-fixtures.ts';

/*
 * `bill-days` jobs (many planned tenant-days per job) on real Redis and PostgreSQL: a day that
 * fails is retried alone without failing or re-billing the others, and a later plan while a
 * chunk is active queues none of its days again.
 */

/** 03:00 in Prague on the 21st: 2026-11-20 is the latest billable day. */
const NOW = '2026-11-21T02:00:00Z';
const DAY = '2026-11-20';

describe('bill-days jobs: many tenant-days per job, each day in its own right', () => {
  const conn = useBillingDatabase(async (db) => {
    for (const t of ['c1', 'c2', 'k1', 'k2', 'k3']) await seedTenant(db, t, '2026-11-20T08:00:00+01:00');
    // Bills in USD while only a EUR book exists: its day fails until a USD book is loaded.
    await seedTenant(db, 'cusd', '2026-11-20T08:00:00+01:00', 'Europe/Prague', 'USD');
  });
  const start = useTestWorkers(conn);

  it('a chunk with one failing day bills the others once and retries the failing one alone', async () => {
    const w = await start({ prefix: testPrefix('chunk-fail'), concurrency: 2 });
    const bill = w.queues.bill;
    const due = ['c1', 'cusd', 'c2'].map((tenantId) => ({
      tenantId,
      day: DAY,
      trigger: 'schedule' as const,
    }));
    expect(await enqueueBillDays(bill, due, new Date(NOW))).toBe(3);
    const [chunk] = await bill.getJobs(['waiting', 'active', 'completed']);
    expect(chunk?.name).toBe('bill-days');
    const chunkId = chunk?.id as string;
    await waitFor(
      async () => ((await bill.getJobState(chunkId)) === 'completed' ? true : undefined),
      'chunk done',
    );

    // The chunk completed: two days billed, the failing one handed to a bill-day job of its own.
    const outcome = (await bill.getJob(chunkId))?.returnvalue as ChunkOutcome;
    const retryId = 'bill-day.cusd.2026-11-20.schedule.20261121T020000000Z';
    expect(outcome).toMatchObject({ days: 3, billed: 2, skipped: 0 });
    expect(outcome.failed).toEqual([
      {
        tenantId: 'cusd',
        day: DAY,
        jobId: retryId,
        error: expect.stringMatching(/in EUR, the tenant bills in USD/),
      },
    ]);
    const retry = await bill.getJob(retryId);
    expect(retry?.name).toBe('bill-day');
    expect(retry?.data).toMatchObject({
      tenantId: 'cusd',
      day: DAY,
      trigger: 'schedule',
      now: new Date(NOW).toISOString(),
      chunk: chunkId,
    });
    expect(await retry?.getState()).toBe('delayed');
    const billedDays = async () =>
      (await runsOf(conn.db))
        .filter((r) => ['c1', 'c2', 'cusd'].includes(r.tenant_id))
        .map((r) => `${r.tenant_id} ${r.day} ${r.is_current}`);
    expect(await billedDays()).toEqual([`c1 ${DAY} true`, `c2 ${DAY} true`]);
    const runJobIds = await conn.db
      .selectFrom('runs')
      .select(['tenant_id', 'job_id'])
      .where('tenant_id', 'in', ['c1', 'c2'])
      .execute();
    expect(runJobIds.map((r) => r.job_id)).toEqual([chunkId, chunkId]);

    // Planned again meanwhile, the failing day is not queued: its retry holds it.
    expect(
      await enqueueBillDays(bill, [due[1] as (typeof due)[number]], new Date('2026-11-21T03:00:00Z')),
    ).toBe(0);

    // Retried alone, still without a USD price: it fails again on its own (the chunk stays done).
    await retry?.promote();
    await waitFor(
      async () => ((await bill.getJob(retryId))?.attemptsMade === 1 ? true : undefined),
      'retry tried',
    );
    expect(await bill.getJobState(retryId)).toBe('delayed');
    expect(await bill.getJobState(chunkId)).toBe('completed');

    // The USD book is loaded; the next attempt bills the day, once, and nothing else is re-billed.
    await loadPriceBook(conn.db, { ...PRICES, tenantId: 'cusd', currency: 'USD' }, 'test');
    await (await bill.getJob(retryId))?.promote();
    await drain([bill]);
    expect(await bill.getJobState(retryId)).toBe('completed');
    expect(await billedDays()).toEqual([`c1 ${DAY} true`, `c2 ${DAY} true`, `cusd ${DAY} true`]);
    const cusd = await conn.db.selectFrom('runs').select('job_id').where('tenant_id', '=', 'cusd').execute();
    expect(cusd.map((r) => r.job_id)).toEqual([retryId]);
  });

  it('a second plan while a chunk is active queues none of its days and nothing is billed twice', async () => {
    const w = await start({ prefix: testPrefix('chunk-dedup'), concurrency: 2 });
    const tenants = ['k1', 'k2', 'k3'];
    // The chunk is held active: the test holds the day lock of one of its days.
    const lock = await holdDayLock(conn.url, 'k2', DAY);
    try {
      const first = await w.queues.plan.add(PLAN_NIGHT, { now: NOW });
      await waitFor(
        async () => ((await lockWaiters(conn.url)) > 0 ? true : undefined),
        'chunk waiting on the lock',
      );
      expect(await w.queues.bill.getJobCounts('active', 'waiting')).toEqual({ active: 1, waiting: 0 });
      const firstPlan = await waitFor(
        async () => (await w.queues.plan.getJob(first.id as string))?.returnvalue ?? undefined,
        'first plan',
      );
      // The k tenants' days (and whatever the first test left due, in the same chunk).
      expect(firstPlan.planned).toBeGreaterThanOrEqual(3);
      expect(firstPlan.planned).toBe(firstPlan.due);

      // A later fire of the same night (new job ids) while the chunk runs: every day is still held.
      const second = await w.queues.plan.add(PLAN_NIGHT, { now: '2026-11-21T03:00:00Z' });
      const secondPlan = await waitFor(
        async () => (await w.queues.plan.getJob(second.id as string))?.returnvalue ?? undefined,
        'second plan',
      );
      expect(secondPlan).toMatchObject({ due: firstPlan.due, planned: 0 });
      expect(await w.queues.bill.getJobCounts('active', 'waiting', 'delayed')).toEqual({
        active: 1,
        waiting: 0,
        delayed: 0,
      });
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
    await drain([w.queues.plan, w.queues.bill]);
    const runs = (await runsOf(conn.db)).filter((r) => tenants.includes(r.tenant_id));
    expect(runs.map((r) => `${r.tenant_id} ${r.day} ${r.is_current}`)).toEqual(
      tenants.map((t) => `${t} ${DAY} true`),
    );

    // Once the chunk is over its claims are gone: a later plan finds the days billed and queues nothing new.
    const third = await w.queues.plan.add(PLAN_NIGHT, { now: '2026-11-21T04:00:00Z' });
    const thirdPlan = await waitFor(
      async () => (await w.queues.plan.getJob(third.id as string))?.returnvalue ?? undefined,
      'third plan',
    );
    expect(thirdPlan).toMatchObject({ due: 0, planned: 0 });
  });

  it('a chunk handed back on shutdown runs again elsewhere and bills none of its days twice', async () => {
    // Seeded here, so that the plans of the tests above do not bill them.
    for (const t of ['h1', 'h2']) await seedTenant(conn.db, t, '2026-11-20T08:00:00+01:00');
    const prefix = testPrefix('chunk-handback');
    const first = await start({ prefix, concurrency: 2 });
    const due = ['h1', 'h2'].map((tenantId) => ({ tenantId, day: DAY, trigger: 'schedule' as const }));
    const lock = await holdDayLock(conn.url, 'h2', DAY);
    let chunkId = '';
    try {
      expect(await enqueueBillDays(first.queues.bill, due, new Date(NOW))).toBe(2);
      await waitFor(async () => ((await lockWaiters(conn.url)) > 0 ? true : undefined), 'chunk on the lock');
      chunkId = (await first.queues.bill.getJobs(['active']))[0]?.id as string;
      expect(await first.close(500)).toEqual({ finished: false, handedBack: 1 });
    } finally {
      // The cut-off batch of this process goes on once the lock is free and commits both days.
      await lock.query('ROLLBACK');
      await lock.end();
    }
    await waitFor(async () => {
      const runs = (await runsOf(conn.db)).filter((r) => r.tenant_id === 'h1' || r.tenant_id === 'h2');
      return runs.length === 2 ? runs : undefined;
    }, 'the cut-off batch committed');
    const second = await start({ prefix, concurrency: 2 });
    expect(await second.queues.bill.getJobState(chunkId)).not.toBe('completed');
    await drain([second.queues.bill]);
    const outcome = (await second.queues.bill.getJob(chunkId))?.returnvalue as ChunkOutcome;
    // Run again, the chunk finds both days up to date: nothing is billed twice.
    expect(outcome).toMatchObject({ days: 2, billed: 0, skipped: 2, failed: [] });
    const runs = (await runsOf(conn.db)).filter((r) => r.tenant_id === 'h1' || r.tenant_id === 'h2');
    expect(runs.map((r) => `${r.tenant_id} ${r.day} ${r.is_current}`)).toEqual([
      `h1 ${DAY} true`,
      `h2 ${DAY} true`,
    ]);
  });
});
