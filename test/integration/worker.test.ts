import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { enqueueReplay } from '../../jobs/enqueue-replay.ts';
import { PLAN_NIGHT } from '../../jobs/queues.ts';
import type { BillingWorker } from '../../jobs/worker.ts';
import { openPostgres } from '../../src/db/connection.ts';
import { bumpDayRevisions } from '../../src/db/repositories/day-revision.repository.ts';
import { dayOf, dayRange, latestBillableDay } from '../../src/domain/calendar.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';
import { drain, runsOf, seedPrices, seedTenant, startTestWorker } from './jobs-fixtures.ts';

describe('billing worker on real Redis and PostgreSQL', () => {
  let conn: TestDatabase;
  const started: BillingWorker[] = [];
  const start = async (prefix: string, db = conn.db, concurrency = 2, planChunkDays?: number) => {
    const w = await startTestWorker(db, { prefix, concurrency, ...(planChunkDays ? { planChunkDays } : {}) });
    started.push(w);
    return w;
  };

  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedPrices(conn.db);
  });
  afterEach(async () => {
    for (const w of started.splice(0)) await w.close(5_000);
  });
  afterAll(async () => conn?.close());

  it('a worker down for three days catches up on its own, then a late event re-bills its day', async () => {
    await seedTenant(conn.db, 'acme', '2026-11-20T08:00:00+01:00');
    const prefix = testPrefix('catchup');
    let worker = await start(prefix);
    // The night of the 24th (03:00 in Prague): the 20th to the 23rd are due.
    await worker.queues.plan.add(PLAN_NIGHT, { now: '2026-11-24T02:00:00Z' });
    await drain([worker.queues.plan, worker.queues.bill]);
    expect((await runsOf(conn.db, 'acme')).map((r) => `${r.day} ${r.trigger}`)).toEqual([
      '2026-11-20 catch-up',
      '2026-11-21 catch-up',
      '2026-11-22 catch-up',
      '2026-11-23 schedule',
    ]);

    // Down for three nights; the next plan after restart catches up the missed days by itself.
    await worker.close(5_000);
    started.splice(0);
    worker = await start(prefix);
    await worker.queues.plan.add(PLAN_NIGHT, { now: '2026-11-27T02:00:00Z' });
    await drain([worker.queues.plan, worker.queues.bill]);
    const runs = await runsOf(conn.db, 'acme');
    expect(runs.filter((r) => r.is_current).map((r) => `${r.day} ${r.trigger}`)).toEqual([
      '2026-11-20 catch-up',
      '2026-11-21 catch-up',
      '2026-11-22 catch-up',
      '2026-11-23 schedule',
      '2026-11-24 catch-up',
      '2026-11-25 catch-up',
      '2026-11-26 schedule',
    ]);
    expect(runs).toHaveLength(7);

    // A login of the daily user on the 25th arrives late: the day is re-billed with trigger late-data.
    const before = runs.find((r) => r.day === '2026-11-25');
    await conn.db
      .insertInto('daily_activity')
      .values({
        tenant_id: 'acme',
        day: '2026-11-25',
        user_id: 'daily-1',
        first_login_at: new Date('2026-11-25T09:00:00Z'),
        last_login_at: new Date('2026-11-25T09:00:00Z'),
        login_count: 1,
      })
      .execute();
    await bumpDayRevisions(conn.db, [{ tenantId: 'acme', day: '2026-11-25' }]);
    await worker.queues.plan.add(PLAN_NIGHT, { now: '2026-11-27T03:00:00Z' });
    await drain([worker.queues.plan, worker.queues.bill]);
    const after = await runsOf(conn.db, 'acme');
    const day25 = after.filter((r) => r.day === '2026-11-25');
    expect(day25.map((r) => `${r.trigger} ${r.is_current}`)).toEqual(['catch-up false', 'late-data true']);
    // The daily professional license (250) now counts for that day.
    expect(Number(day25[1]?.total) - Number(before?.total)).toBe(250);
    expect(after).toHaveLength(8);

    // Planning the same night again finds nothing more to do.
    await worker.queues.plan.add(PLAN_NIGHT, { now: '2026-11-27T04:00:00Z' });
    await drain([worker.queues.plan, worker.queues.bill]);
    expect(await runsOf(conn.db, 'acme')).toHaveLength(8);
  });

  it('two workers on one queue bill 60 tenant-days with no duplicate run', async () => {
    const tenants = ['t1', 't2', 't3', 't4', 't5', 't6'];
    for (const t of tenants) await seedTenant(conn.db, t, '2026-10-01T12:00:00+02:00');
    const prefix = testPrefix('two');
    // Two workers, each with its own Redis connection and its own database pool.
    const other = await openPostgres(conn.url, 5);
    try {
      // Chunks of 10 days: the night's 60 tenant-days in 6 `bill-days` jobs.
      const a = await start(prefix, conn.db, 3, 10);
      const b = await start(prefix, other.db, 3, 10);
      const done = new Map<string, number>();
      for (const w of [a, b]) {
        const billWorker = w.workers[1];
        billWorker?.on('completed', () => done.set(billWorker.id, (done.get(billWorker.id) ?? 0) + 1));
      }
      // 2026-10-01..10-10 is billable at 03:00 on the 11th: 10 days x 6 tenants. Both processes
      // plan the same night (as after a double start): same business keys, so the second plan's
      // jobs are dropped while the first ones exist; what the database guarantees is checked below.
      const night = '2026-10-11T01:00:00Z';
      await Promise.all([
        a.queues.plan.add(PLAN_NIGHT, { now: night }),
        b.queues.plan.add(PLAN_NIGHT, { now: night }),
      ]);
      await drain([a.queues.plan, a.queues.bill]);
      const runs = (await runsOf(conn.db)).filter((r) => tenants.includes(r.tenant_id));
      const current = runs.filter((r) => r.is_current);
      expect(current).toHaveLength(60);
      expect(new Set(current.map((r) => `${r.tenant_id}/${r.day}`)).size).toBe(60);
      // No tenant-day was billed twice: one run per tenant-day, and it is the current one.
      expect(runs).toHaveLength(60);
      const lines = await conn.db
        .selectFrom('charge_lines as l')
        .innerJoin('runs as r', 'r.id', 'l.run_id')
        .select((eb) => [eb.fn.countAll<string>().as('n')])
        .where('r.tenant_id', 'in', tenants)
        .executeTakeFirstOrThrow();
      expect(Number(lines.n)).toBe(60); // one monthly line a day; the daily user never logged in
      expect([...done.values()].reduce((x, y) => x + y, 0)).toBe(6);
      expect(done.size).toBe(2); // both workers took part

      // The database, not the job id, keeps one current run: the same tenant-days replayed twice
      // at once under different job ids, on both workers.
      const days = ['2026-10-03', '2026-10-04', '2026-10-05', '2026-10-06', '2026-10-07'];
      for (const t of ['t1', 't2']) {
        await enqueueReplay(a.queues.bill, { tenantId: t, days, now: new Date('2026-11-01T00:00:00Z') });
        await enqueueReplay(b.queues.bill, { tenantId: t, days, now: new Date('2026-11-01T00:00:01Z') });
      }
      await drain([a.queues.bill]);
      const replayed = (await runsOf(conn.db)).filter((r) => tenants.includes(r.tenant_id));
      expect(replayed.filter((r) => r.trigger === 'replay')).toHaveLength(20);
      const currentAfter = replayed.filter((r) => r.is_current);
      expect(currentAfter).toHaveLength(60);
      expect(new Set(currentAfter.map((r) => `${r.tenant_id}/${r.day}`)).size).toBe(60);
    } finally {
      for (const w of started.splice(0)) await w.close(5_000);
      await other.close();
    }
  });

  it('fails a bad payload, an unknown tenant and a never-billable day without retries', async () => {
    const prefix = testPrefix('bad');
    const worker = await start(prefix);
    const bill = worker.queues.bill;
    const now = '2026-11-28T03:00:00Z';
    const jobs = await Promise.all([
      bill.add(
        'bill-day',
        { tenantId: 'acme', day: '2026-13-01', trigger: 'schedule', now },
        { jobId: 'bad.day' },
      ),
      bill.add(
        'bill-day',
        { tenantId: 'acme', day: '2026-11-20', trigger: 'sometimes', now },
        { jobId: 'bad.trigger' },
      ),
      bill.add(
        'bill-day',
        { tenantId: 'nobody', day: '2026-11-20', trigger: 'schedule', now },
        { jobId: 'bad.tenant' },
      ),
      // The 27th is not billable at 00:00Z on the 27th; a retry with the same payload cannot help.
      bill.add(
        'bill-day',
        { tenantId: 'acme', day: '2026-11-27', trigger: 'schedule', now: '2026-11-27T00:00:00Z' },
        { jobId: 'bad.early' },
      ),
      bill.add('no-such-job', {}, { jobId: 'bad.name' }),
    ]);
    await drain([bill]);
    for (const j of jobs) {
      const job = await bill.getJob(j.id as string);
      expect(await job?.getState()).toBe('failed');
      expect(job?.attemptsMade).toBe(1);
      expect(job?.opts.attempts).toBe(5);
    }
    const reason = async (id: string) => (await bill.getJob(id))?.failedReason;
    expect(await reason('bad.day')).toMatch(/bad payload: day: must be a date/);
    expect(await reason('bad.trigger')).toMatch(/bad payload: trigger/);
    expect(await reason('bad.tenant')).toMatch(/unknown tenant "nobody"/);
    expect(await reason('bad.early')).toMatch(/not billable yet/);
    expect(await reason('bad.name')).toMatch(/unknown job name "no-such-job"/);
  });

  it('registers the plan-night scheduler idempotently and refuses a bad pattern', async () => {
    const prefix = testPrefix('sched');
    const schedule = { pattern: '*/30 * * * * *', source: '--schedule' };
    const w1 = await startTestWorker(conn.db, { prefix, concurrency: 1, schedule });
    started.push(w1);
    const w2 = await startTestWorker(conn.db, {
      prefix,
      concurrency: 1,
      schedule: { pattern: '0 5 * * * *', source: 'BILLING_SCHEDULE' },
    });
    started.push(w2);
    const plan = new Queue('plan', { connection: { url: redisUrl() }, prefix });
    try {
      const schedulers = await plan.getJobSchedulers();
      expect(schedulers).toHaveLength(1);
      expect(schedulers[0]).toMatchObject({ key: PLAN_NIGHT, pattern: '0 5 * * * *', tz: 'UTC' });
      await expect(
        startTestWorker(conn.db, {
          prefix,
          concurrency: 1,
          schedule: { pattern: '61 * * * *', source: '--schedule' },
        }),
      ).rejects.toThrow(/--schedule: bad cron pattern "61 \* \* \* \*": field 1 \(minute\)/);
    } finally {
      await plan.close();
    }
  });

  it('the schedule fires plan-night at its fire time and the fleet catches up by itself', async () => {
    // The only test that follows the real clock: a 1-second schedule and a tenant whose history
    // starts three days ago.
    const since = new Date(Date.now() - 3 * 86_400_000);
    await seedTenant(conn.db, 'live', since.toISOString(), 'UTC');
    const prefix = testPrefix('live');
    const w = await startTestWorker(conn.db, {
      prefix,
      schedule: { pattern: '* * * * * *', source: '--schedule' },
    });
    started.push(w);
    const expected = dayRange(dayOf(since, 'UTC'), latestBillableDay(new Date(), 'UTC', 2));
    const runs = await waitFor(async () => {
      const current = (await runsOf(conn.db, 'live')).filter((r) => r.is_current);
      return expected.every((d) => current.some((r) => r.day === d)) ? current : undefined;
    }, 'every missed day billed');
    expect(runs[0]).toMatchObject({ day: expected[0], trigger: 'catch-up' });
    expect(runs.filter((r) => r.trigger === 'schedule').length).toBeGreaterThanOrEqual(1);
    // A scheduled plan runs at its fire time (a whole second), not at the worker's clock.
    const planned = await w.queues.plan.getJobs(['completed']);
    expect(planned.length).toBeGreaterThan(0);
    for (const job of planned) expect(job.returnvalue.now).toMatch(/:\d{2}\.000Z$/);
  });
});
