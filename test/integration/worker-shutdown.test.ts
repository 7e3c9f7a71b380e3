import { Queue } from 'bullmq';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BILL_QUEUE } from '../../jobs/queues.ts';
import { runCli } from '../support/cli.ts';
import { redisUrl, testPrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait.ts';
import {
  drain,
  holdDayLock,
  lockWaiters,
  runsOf,
  seedTenant,
  startTestWorker,
  startWorkerProcess,
  useBillingDatabase,
  type WorkerProcess,
} from './jobs-fixtures.ts';

/*
 * SIGTERM on a real `billing worker` process with a job in flight. The job is held in flight by
 * taking the tenant-day's run lock (the advisory lock billDay takes) from the test.
 */

const NOW = '2026-11-28T03:00:00Z';

/** Resolves with the exit code, or rejects when the process is still alive after `ms`. */
function exitWithin(p: WorkerProcess, ms: number): Promise<number | null> {
  return Promise.race([
    p.exited,
    new Promise<never>((_, reject) =>
      setTimeout(() => {
        p.child.kill('SIGKILL');
        reject(new Error(`worker still running ${ms} ms after SIGTERM:\n${p.stderr()}`));
      }, ms),
    ),
  ]);
}

describe('billing worker process shutdown on SIGTERM', () => {
  const conn = useBillingDatabase((db) => seedTenant(db, 'slow', '2026-11-20T08:00:00+01:00'));

  /**
   * A real worker process with a bill-day job of `day` in flight: the test holds the day lock,
   * so the job waits on it. `test` gets them; the lock and the queue are released after it.
   */
  async function withJobInFlight(
    label: string,
    day: string,
    test: (held: { worker: WorkerProcess; bill: Queue; lock: pg.Client; jobId: string }) => Promise<void>,
  ): Promise<void> {
    const prefix = testPrefix(label);
    const bill = new Queue(BILL_QUEUE, { connection: { url: redisUrl() }, prefix });
    const lock = await holdDayLock(conn.url, 'slow', day);
    try {
      const worker = await startWorkerProcess({
        DATABASE_URL: conn.url,
        REDIS_URL: redisUrl(),
        BILLING_QUEUE_PREFIX: prefix,
        BILLING_STREAM: `${prefix}:stream`,
        BILLING_STREAM_GROUP: `${prefix}-group`,
      });
      const job = await bill.add('bill-day', { tenantId: 'slow', day, trigger: 'schedule', now: NOW });
      await waitFor(
        async () => ((await lockWaiters(conn.url)) > 0 ? true : undefined),
        'job waiting on the day lock',
      );
      await test({ worker, bill, lock, jobId: job.id as string });
    } finally {
      await lock.end().catch(() => {});
      await bill.close();
    }
  }

  it('lets a job in flight finish when it can, then exits 0', async () => {
    await withJobInFlight('term-finish', '2026-11-21', async ({ worker, bill, lock, jobId }) => {
      worker.child.kill('SIGTERM');
      // The job is released 1 s into the shutdown: well inside the grace period.
      await new Promise((r) => setTimeout(r, 1_000));
      await lock.query('ROLLBACK');
      expect(await exitWithin(worker, 15_000)).toBe(0);
      expect(await (await bill.getJob(jobId))?.getState()).toBe('completed');
      expect((await runsOf(conn.db, 'slow')).map((r) => `${r.day} ${r.is_current}`)).toEqual([
        '2026-11-21 true',
      ]);
    });
  });

  it('hands back a job that cannot finish, exits within 15 s and leaves no half-written run', async () => {
    await withJobInFlight('term-handback', '2026-11-22', async ({ worker, bill, lock, jobId }) => {
      worker.child.kill('SIGTERM');
      expect(await exitWithin(worker, 15_000)).toBe(0);
      expect(worker.stderr()).toContain('"handedBack":1');
      // Nothing of the cut-off run was written, and the job is waiting for another worker.
      expect((await runsOf(conn.db, 'slow')).filter((r) => r.day === '2026-11-22')).toEqual([]);
      expect(await (await bill.getJob(jobId))?.getState()).toBe('waiting');
      await lock.query('ROLLBACK');

      // Another worker takes it over and bills the day exactly once.
      const other = await startTestWorker(conn.db, { prefix: bill.opts.prefix as string, concurrency: 1 });
      try {
        await drain([bill]);
      } finally {
        await other.close(5_000);
      }
      expect(await (await bill.getJob(jobId))?.getState()).toBe('completed');
      expect(
        (await runsOf(conn.db, 'slow')).filter((r) => r.day === '2026-11-22').map((r) => r.is_current),
      ).toEqual([true]);
    });
  });

  it('refuses to start without REDIS_URL or with a bad schedule (exit 2, clear message)', async () => {
    const noRedis = await runCli(['worker'], { env: { DATABASE_URL: conn.url, REDIS_URL: '' } });
    expect(noRedis.code).toBe(2);
    expect(noRedis.stderr).toContain('worker needs Redis: set REDIS_URL');
    const bad = await runCli(['worker', '--schedule', '*/5 * * *'], {
      env: { DATABASE_URL: conn.url, REDIS_URL: redisUrl() },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--schedule: bad cron pattern "*/5 * * *": expected 5 fields');
  });
});
