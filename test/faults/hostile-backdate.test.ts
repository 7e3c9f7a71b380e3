import { Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CHUNK_DAYS } from '../../jobs/enqueue.ts';
import { planNightProcessor } from '../../jobs/processors/plan-night.processor.ts';
import { BILL_JOB_OPTIONS, BILL_QUEUE, PLAN_NIGHT } from '../../jobs/queues.ts';
import { billingLag } from '../../src/billing/due-days.service.ts';
import { dayCount, latestBillableDay } from '../../src/domain/calendar.ts';
import { markRowCount } from '../support/day-marks.ts';
import { DEFAULT_BOOK, seedDefaultPrices, seedUsers } from './support/seed.ts';
import { useServeStack } from './support/stack.ts';

/*
 * Issue 14, "Amplification": a version back-dated to the earliest instant allowed (2000-01-02)
 * through a real `billing serve`. It used to write one day mark per day up to today (739,949 for
 * year 1), queue one bill-day job per day at the next plan (now chunks of days) and make every /metrics scrape pull
 * every missing day into Node. Now: one mark row, a plan queues at most its cap, the lag is one
 * SQL aggregate. Times are printed, never asserted.
 */

const CAP = 500;

describe('a settings version back-dated to 2000-01-02', () => {
  const ctx = useServeStack();
  let bill: Queue | undefined;
  afterAll(async () => bill?.close());

  it('costs one mark row, a capped plan and a cheap lag', async () => {
    const { stack, serve, key } = ctx;
    await seedDefaultPrices(stack.db);
    await seedUsers(stack.db, 'acme', 200, new Date(Date.now() - 3 * 86_400_000).toISOString());
    const marksBefore = await markRowCount(stack.db);

    const started = performance.now();
    const res = await fetch(`${serve.base}/v1/users/ancient/settings`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({
        effectiveAt: '2000-01-02T12:00:00Z',
        active: true,
        role: 'user',
        permissions: ['communication'],
        billing: 'monthly',
      }),
    });
    const putMs = performance.now() - started;
    expect(res.status, await res.text()).toBeLessThan(300);
    const marks = (await markRowCount(stack.db)) - marksBefore;
    expect(marks).toBe(1);

    // The next plan: the first plannable day is the default book's (2020-01-01), not 2000; and
    // of its ~2,500 due days it queues the cap, oldest first.
    bill = new Queue(BILL_QUEUE, {
      connection: { url: stack.redis.url },
      prefix: 'hostile',
      defaultJobOptions: BILL_JOB_OPTIONS,
    });
    const now = new Date();
    const plan = planNightProcessor({ db: stack.db, bill, logger: pino({ level: 'silent' }), maxJobs: CAP });
    const planStarted = performance.now();
    const planned = await plan({
      id: 'hostile-plan',
      name: PLAN_NIGHT,
      data: { now: now.toISOString() },
      opts: {},
      timestamp: now.getTime(),
    } as never);
    const planMs = performance.now() - planStarted;
    expect(planned.planned).toBe(CAP);
    // In `bill-days` jobs of DEFAULT_CHUNK_DAYS tenant-days each.
    expect(await bill.getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(
      Math.ceil(CAP / DEFAULT_CHUNK_DAYS),
    );
    const days = (await bill.getJobs(['waiting'], 0, CAP))
      .flatMap((j) => (j.data.days as { day: string }[]).map((d) => d.day))
      .sort();
    expect(days).toHaveLength(CAP);
    expect(days[0]).toBe(DEFAULT_BOOK.validFrom);

    // The lag: every plannable day from the book's first day is missing.
    const latest = latestBillableDay(now, 'Europe/Prague', 2);
    const lagStarted = performance.now();
    const lag = await billingLag(stack.db, now);
    const lagMs = performance.now() - lagStarted;
    expect(lag).toEqual([{ tenantId: 'acme', days: dayCount(DEFAULT_BOOK.validFrom, latest) }]);
    const scrapeStarted = performance.now();
    const scrape = await fetch(`${serve.base}/metrics`);
    const scrapeMs = performance.now() - scrapeStarted;
    if (scrape.ok) {
      // Served on this port while it is open; the gauge carries the same figure.
      expect(await scrape.text()).toMatch(/billing_lag_days\{tenant="acme"\} \d+/);
    }
    console.log(
      `[fault] hostile back-date to 2000-01-02: PUT ${putMs.toFixed(0)} ms, ${marks} mark row; plan ${planMs.toFixed(0)} ms queued ${planned.planned} of ${lag[0]?.days} due days (cap ${CAP}); lag query ${lagMs.toFixed(0)} ms; /metrics ${scrape.status} in ${scrapeMs.toFixed(0)} ms`,
    );
  });
});
