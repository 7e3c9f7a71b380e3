import { hostname } from 'node:os';
import type { Command } from 'commander';
import { queueReplays } from '../../../jobs/enqueue-replay.ts';
import { resolveTenantDays } from '../../billing/tenant-days.ts';
import { dayRange } from '../../domain/calendar.ts';
import { type RangeOptions, rangeOptions } from '../billing-range.ts';
import type { CliContext } from '../context.ts';
import { checkDayOrder } from '../options.ts';

/** `billing queue replay`: ops start a replay on the worker fleet, one `replay-day` job per tenant-day. */
export function registerQueue(program: Command, ctx: CliContext): void {
  const queue = program.command('queue').description('queue work for the worker fleet (needs REDIS_URL)');
  rangeOptions(
    queue
      .command('replay')
      .description(
        'queue a replay of a day or an inclusive range of days, one replay-day job per tenant-day',
      ),
  ).action(async (opts: RangeOptions) => {
    const url = ctx.redisUrl('queue replay');
    checkDayOrder(opts);
    const { db } = await ctx.database();
    const { tenants, from, to } = await resolveTenantDays(db, {
      tenantId: opts.tenant,
      from: opts.day,
      to: opts.to,
    });
    const days = dayRange(from, to);
    // The adapter reads the clock once: every job of this request is judged at the same instant.
    const now = new Date();
    const queued = await queueReplays(
      { url, prefix: ctx.config.BILLING_QUEUE_PREFIX, logger: ctx.logger },
      { tenantIds: tenants.map((t) => t.id), days, now },
    );
    ctx.logger.info(
      { queued, tenants: tenants.length, days: days.length, by: `${hostname()}-${process.pid}` },
      'replays queued',
    );
    ctx.print(
      `queued ${queued} replay-day jobs (${tenants.length} tenants x ${days.length} days) at ${now.toISOString()}`,
    );
  });
}
