import { hostname } from 'node:os';
import { Queue } from 'bullmq';
import type { Command } from 'commander';
import { Redis } from 'ioredis';
import { enqueueReplay } from '../../../jobs/enqueue-replay.ts';
import { BILL_JOB_OPTIONS, BILL_QUEUE } from '../../../jobs/queues.ts';
import { findTenant, listTenants } from '../../db/repositories/tenant.repository.ts';
import { dayRange, isValidDay } from '../../domain/calendar.ts';
import { InputError } from '../../errors.ts';
import type { CliContext } from '../context.ts';

/** `billing queue replay`: ops start a replay on the worker fleet, one `replay-day` job per tenant-day. */
export function registerQueue(program: Command, ctx: CliContext): void {
  const queue = program.command('queue').description('queue work for the worker fleet (needs REDIS_URL)');
  queue
    .command('replay')
    .description('queue a replay of a day or an inclusive range of days, one replay-day job per tenant-day')
    .requiredOption('--day <YYYY-MM-DD>', 'the (first) day to replay')
    .option('--to <YYYY-MM-DD>', 'the last day of the range (default: --day)')
    .option('--tenant <id>', 'one tenant (default: every tenant)')
    .action(async (opts: { day: string; to?: string; tenant?: string }) => {
      const redisUrl = ctx.redisUrl('queue replay');
      const to = opts.to ?? opts.day;
      if (!isValidDay(opts.day)) throw new InputError(`--day: "${opts.day}" is not a date YYYY-MM-DD`);
      if (!isValidDay(to)) throw new InputError(`--to: "${to}" is not a date YYYY-MM-DD`);
      if (to < opts.day) throw new InputError(`--to ${to} is before --day ${opts.day}`);
      const days = dayRange(opts.day, to);
      const { db } = await ctx.database();
      let tenantIds: string[];
      if (opts.tenant) {
        if (!(await findTenant(db, opts.tenant)))
          throw new InputError(`--tenant: unknown tenant "${opts.tenant}"`);
        tenantIds = [opts.tenant];
      } else {
        tenantIds = (await listTenants(db)).map((t) => t.id);
      }
      const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
      connection.on('error', (e) => ctx.logger.warn({ err: e }, 'redis connection error'));
      const bill = new Queue(BILL_QUEUE, {
        connection,
        prefix: ctx.config.BILLING_QUEUE_PREFIX,
        defaultJobOptions: BILL_JOB_OPTIONS,
      });
      bill.on('error', (e) => ctx.logger.error({ err: e }, 'queue error'));
      try {
        // The adapter reads the clock once: every job of this request is judged at the same instant.
        const now = new Date();
        let queued = 0;
        for (const tenantId of tenantIds) queued += await enqueueReplay(bill, { tenantId, days, now });
        ctx.logger.info(
          { queued, tenants: tenantIds.length, days: days.length, by: `${hostname()}-${process.pid}` },
          'replays queued',
        );
        ctx.print(
          `queued ${queued} replay-day jobs (${tenantIds.length} tenants x ${days.length} days) at ${now.toISOString()}`,
        );
      } finally {
        await bill.close();
        await connection.quit().catch(() => connection.disconnect());
      }
    });
}
