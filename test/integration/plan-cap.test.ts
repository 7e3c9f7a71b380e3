import { type Job, Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planNightProcessor } from '../../jobs/processors/plan-night.processor.ts';
import { BILL_JOB_OPTIONS, BILL_QUEUE, PLAN_NIGHT } from '../../jobs/queues.ts';
import { dayRange } from '../../src/domain/calendar.ts';
import { redisUrl, testPrefix } from '../support/test-database.ts';
import { drain, runsOf, seedTenant, useBillingDatabase, useTestWorkers } from './jobs-fixtures.ts';

/*
 * The planner queues at most BILLING_PLAN_MAX_JOBS tenant-days per plan (here 10), oldest first
 * per tenant, tenants in turn; the rest follows at the next plans. Real Redis and PostgreSQL.
 */

const logger = pino({ level: 'silent' });
// 03:00 in Prague on the 26th: 2026-11-01..2026-11-25 (25 days) are billable.
const NIGHT = '2026-11-26T02:00:00Z';

/** A plan-night job as BullMQ hands it to the processor (payload with an explicit instant). */
function planJob(now: string): Job {
  return { id: `plan-${now}`, name: PLAN_NIGHT, data: { now }, opts: {}, timestamp: Date.parse(now) } as Job;
}

describe('the planner caps and pages the work of a night', () => {
  const conn = useBillingDatabase();
  const start = useTestWorkers(conn);

  it('with a cap of 10 and 25 due days: 10 oldest, the next 10, the last 5, then nothing', async () => {
    await seedTenant(conn.db, 'capped', '2026-11-01T08:00:00+01:00');
    const w = await start({ prefix: testPrefix('cap'), planMaxJobs: 10 });
    const all = dayRange('2026-11-01', '2026-11-25');
    const planned: number[] = [];
    const billedAfter: string[][] = [];
    for (let i = 0; i < 4; i++) {
      // Each plan is a later fire of the same night (as the hourly schedule makes them).
      const job = await w.queues.plan.add(PLAN_NIGHT, { now: `2026-11-26T0${2 + i}:00:00Z` });
      await drain([w.queues.plan, w.queues.bill]);
      const done = await w.queues.plan.getJob(job.id as string);
      planned.push((done?.returnvalue as { planned: number } | undefined)?.planned ?? -1);
      billedAfter.push((await runsOf(conn.db, 'capped')).map((r) => r.day));
    }
    expect(planned).toEqual([10, 10, 5, 0]);
    expect(billedAfter[0]).toEqual(all.slice(0, 10));
    expect(billedAfter[1]).toEqual(all.slice(0, 20));
    expect(billedAfter[2]).toEqual(all);
    expect(billedAfter[3]).toEqual(all);
  });
});

describe('while its jobs wait, a plan adds no more than the cap', () => {
  const conn = useBillingDatabase();
  let bill: Queue;
  beforeAll(async () => {
    bill = new Queue(BILL_QUEUE, {
      connection: { url: redisUrl() },
      prefix: testPrefix('cap-wait'),
      defaultJobOptions: BILL_JOB_OPTIONS,
    });
  });
  afterAll(async () => bill?.close());

  it('one tenant back-dated far does not hold back the nightly day of another; the queue stays bounded', async () => {
    await seedTenant(conn.db, 'backlog', '2026-11-01T08:00:00+01:00');
    await seedTenant(conn.db, 'nightly', '2026-11-25T08:00:00+01:00');
    // Chunks of 4 days: the 10 days of the plan in 3 `bill-days` jobs.
    const plan = planNightProcessor({ db: conn.db, bill, logger, maxJobs: 10, chunkDays: 4 });
    const first = await plan(planJob(NIGHT));
    expect(first).toMatchObject({ due: 10, planned: 10 });
    const jobs = await bill.getJobs(['waiting']);
    expect(jobs.map((j) => `${j.name} ${j.data.days.length}`).sort()).toEqual([
      'bill-days 2',
      'bill-days 4',
      'bill-days 4',
    ]);
    const queued = jobs.flatMap((j) =>
      (j.data.days as { tenantId: string; day: string; trigger: string }[]).map(
        (d) => `${d.tenantId} ${d.day} ${d.trigger}`,
      ),
    );
    expect(queued.sort()).toEqual(
      [
        ...dayRange('2026-11-01', '2026-11-09').map((d) => `backlog ${d} catch-up`),
        'nightly 2026-11-25 schedule',
      ].sort(),
    );
    // No worker ran: the next plan sees the same oldest days, all still queued, and adds none.
    const second = await plan(planJob('2026-11-26T03:00:00Z'));
    expect(second).toMatchObject({ due: 10, planned: 0 });
    expect(await bill.getJobCountByTypes('waiting')).toBe(3);
  });
});
