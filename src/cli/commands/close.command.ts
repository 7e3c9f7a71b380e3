import type { Command } from 'commander';
import { closePeriod } from '../../billing/close-period.service.ts';
import type { CliContext } from '../context.ts';
import { parseMonthOption } from '../options.ts';

export function registerClose(program: Command, ctx: CliContext): void {
  program
    .command('close')
    .description('close a period: its lines become final; later corrections are written as adjustments')
    .requiredOption('--tenant <id>', 'tenant id')
    .requiredOption(
      '--month <YYYY-MM>',
      'the period (tenant-local calendar month)',
      parseMonthOption('--month'),
    )
    .action(async (opts: { tenant: string; month: string }) => {
      const { db } = await ctx.database();
      const { closed } = await closePeriod(db, { tenantId: opts.tenant, month: opts.month, now: new Date() });
      ctx.print(
        closed
          ? `closed ${opts.month} of tenant ${opts.tenant}`
          : `${opts.month} of tenant ${opts.tenant} was already closed: nothing changed`,
      );
    });
}
