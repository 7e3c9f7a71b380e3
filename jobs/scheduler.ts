import type { Queue } from 'bullmq';
import { validateCronPattern } from './cron-pattern.ts';
import { PLAN_NIGHT } from './queues.ts';

/**
 * Registers (or updates) the `plan-night` job scheduler on the plan queue: one scheduler id, so
 * calling it at every start, from any number of worker processes, leaves exactly one schedule
 * with the latest pattern. The pattern is read in UTC; each tenant's cut-off is applied by the
 * planner, so an hourly pattern bills every tenant within an hour of its cut-off.
 */
export async function upsertPlanSchedule(
  plan: Queue,
  pattern: string,
  source = '--schedule',
): Promise<string> {
  const valid = validateCronPattern(pattern, source);
  await plan.upsertJobScheduler(
    PLAN_NIGHT,
    { pattern: valid, tz: 'UTC' },
    {
      name: PLAN_NIGHT,
      data: {},
      opts: {
        attempts: 3,
        backoff: { type: 'exponential', delay: 5_000 },
        removeOnComplete: 100,
        removeOnFail: 500,
      },
    },
  );
  return valid;
}
