import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayOf } from '../../src/domain/calendar.ts';
import { runCli } from '../support/cli.ts';
import { seedDefaultPrices, seedUsers, waitUntil } from './support/seed.ts';
import { type BillingProcess, type Stack, seedTenant, startBilling, startStack } from './support/stack.ts';

const USERS = 300_000;
/** A schedule that does not fire during the test: the only job is the replay we queue. */
const NEVER = '0 0 1 1 *';

interface CurrentRun {
  id: string;
  line_count: number;
  job_id: string | null;
  lines: number;
}

async function currentRun(stack: Stack, day: string): Promise<CurrentRun | undefined> {
  const { rows } = await sql<CurrentRun>`
    SELECT r.id, r.line_count, r.job_id, (SELECT count(*)::int FROM charge_lines c WHERE c.run_id = r.id) AS lines
    FROM runs r WHERE r.tenant_id = 'big' AND r.day = ${day}::date AND r.is_current
  `.execute(stack.db);
  return rows[0];
}

describe('a worker killed with SIGKILL in the middle of a day', () => {
  let stack: Stack;
  let queue: Queue;
  const workers: BillingProcess[] = [];
  beforeAll(async () => {
    stack = await startStack();
    await seedDefaultPrices(stack.db);
    await seedTenant(stack.db, 'big');
    await seedUsers(stack.db, 'big', USERS, new Date(Date.now() - 5 * 86_400_000).toISOString());
    queue = new Queue('bill', {
      connection: new Redis(stack.redis.url, { maxRetriesPerRequest: null }),
      prefix: 'billing',
    });
  });
  afterAll(async () => {
    for (const w of workers) await w.stop('SIGKILL');
    await queue?.close();
    await stack?.stop();
  });

  it('leaves the day old or new, and the stalled job is picked up and completes', async () => {
    const day = dayOf(new Date(Date.now() - 2 * 86_400_000), 'Europe/Prague');
    const first = await runCli(['run', '--day', day, '--tenant', 'big'], { env: stack.env });
    expect(first.code, first.stderr).toBe(0);
    const old = (await currentRun(stack, day)) as CurrentRun;
    expect(old.lines).toBe(old.line_count);

    // Late data, so that the replay has something new to write.
    await sql`INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
      SELECT 'big', ${day}::date, 'u-' || i, now(), now(), 1 FROM generate_series(5, ${USERS}::int, 5) AS i`.execute(
      stack.db,
    );

    const a = startBilling(['worker', '--schedule', NEVER], stack.env);
    workers.push(a);
    const queued = await runCli(['queue', 'replay', '--day', day, '--tenant', 'big'], { env: stack.env });
    expect(queued.code, queued.stderr).toBe(0);
    let jobId = '';
    await waitUntil(
      async () => {
        const active = await queue.getActive();
        jobId = active[0]?.id ?? '';
        return jobId !== '';
      },
      'the replay job to become active',
      60_000,
    );
    await new Promise((r) => setTimeout(r, 400));
    await a.stop('SIGKILL');

    const afterKill = (await currentRun(stack, day)) as CurrentRun;
    const state = afterKill.id === old.id ? 'old' : 'new';
    // Old or new, never a mix: the current run's lines are exactly its recorded line count.
    expect(afterKill.lines).toBe(afterKill.line_count);
    expect(await queue.getJobState(jobId)).not.toBe('completed');

    const b = startBilling(['worker', '--schedule', NEVER], stack.env);
    workers.push(b);
    await waitUntil(
      async () => (await queue.getJobState(jobId)) === 'completed',
      'the stalled job to complete',
      180_000,
    );
    const final = (await currentRun(stack, day)) as CurrentRun;
    console.log(
      `[fault] worker SIGKILL mid-day: ${USERS} users; after the kill the day was ${state} (run ${afterKill.id}, ${afterKill.lines} lines); job ${jobId} completed on the second worker: run ${final.id}, ${final.lines} lines (old run had ${old.lines})`,
    );
    expect(final.id).not.toBe(old.id);
    expect(final.lines).toBe(final.line_count);
    expect(final.job_id).toBe(jobId);
    const { rows } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM runs WHERE tenant_id = 'big' AND day = ${day}::date AND is_current`.execute(
      stack.db,
    );
    expect(rows[0]?.n).toBe(1);
  });
});
