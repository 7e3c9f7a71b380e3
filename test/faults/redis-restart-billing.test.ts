import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDueDays } from '../../src/billing/due-days.service.ts';
import { runCounts, seedDefaultPrices, seedUsers, waitUntil } from './support/seed.ts';
import { type BillingProcess, type Stack, seedTenant, startBilling, startStack } from './support/stack.ts';

const TENANTS = ['north', 'south', 'west'];

describe('Redis restarted while workers bill', () => {
  let stack: Stack;
  const workers: BillingProcess[] = [];
  beforeAll(async () => {
    stack = await startStack();
    await seedDefaultPrices(stack.db);
    for (const t of TENANTS) {
      await seedTenant(stack.db, t, t === 'south' ? 'Australia/Sydney' : 'Europe/Prague');
      // A tenant whose history starts 40 days ago: the first plan finds ~40 days to catch up.
      await seedUsers(stack.db, t, 3000, new Date(Date.now() - 40 * 86_400_000).toISOString());
    }
  });
  afterAll(async () => {
    for (const w of workers) await w.stop('SIGKILL');
    await stack?.stop();
  });

  it('the night completes with one current run per tenant-day and no lost job', async () => {
    const due = await findDueDays(stack.db, new Date());
    expect(due.length).toBeGreaterThan(100);
    for (let i = 0; i < 2; i += 1)
      workers.push(startBilling(['worker', '--schedule', '*/3 * * * * *'], stack.env));

    await waitUntil(
      async () => (await runCounts(stack.db)).length >= due.length / 4,
      'a quarter of the days billed',
      120_000,
    );
    const before = (await runCounts(stack.db)).length;
    await stack.redis.restart(3000);
    await waitUntil(
      async () => (await findDueDays(stack.db, new Date())).length === 0,
      'every due day billed after the Redis restart',
      240_000,
    );

    const counts = await runCounts(stack.db);
    console.log(
      `[fault] redis restart while billing: ${due.length} tenant-days due, ${before} billed before the restart, ${counts.length} after; runs per day max ${Math.max(...counts.map((c) => c.all))}; workers alive: ${workers.filter((w) => w.child.exitCode === null).length}/2`,
    );
    expect(counts.length).toBeGreaterThanOrEqual(due.length);
    for (const c of counts) {
      expect(c.current, `${c.tenantId} ${c.day}`).toBe(1);
      expect(c.all, `${c.tenantId} ${c.day} has more than one run`).toBe(1);
    }
    for (const w of workers) expect(w.child.exitCode, w.stderr()).toBeNull();
  });
});
