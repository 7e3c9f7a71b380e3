import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { formatMinor } from '../../domain/money.ts';
import { writeInvoiceCsv } from '../../export/invoice-csv.ts';
import type { CliContext } from '../context.ts';
import { parseMonthOption } from '../options.ts';

export function registerExport(program: Command, ctx: CliContext): void {
  program
    .command('export')
    .description('write the invoice CSV of a month (docs/billing.md, Invoice CSV) to FILE or stdout')
    .requiredOption(
      '--month <YYYY-MM>',
      "the period (calendar month in each tenant's time zone)",
      parseMonthOption('--month'),
    )
    .option('--tenant <id>', 'one tenant (default: every tenant, in one file)')
    .option('--out <file>', 'write to FILE instead of stdout')
    .action(async (opts: { month: string; tenant?: string; out?: string }) => {
      const { db } = await ctx.database();
      // Progress on a terminal (stderr): rows written so far.
      const bar = ctx.progress('export', 0, 'rows');
      const input = {
        month: opts.month,
        tenantId: opts.tenant,
        ...(ctx.showProgress ? { onRow: () => bar.increment() } : {}),
      };
      if (!opts.out) {
        const result = await writeInvoiceCsv(db, input, process.stdout).finally(() => bar.stop());
        ctx.logger.info(
          { month: opts.month, tenantId: opts.tenant, rows: result.rows },
          'invoice CSV written',
        );
        return;
      }
      // Written beside the target and renamed at the end: FILE is either complete or untouched.
      const partial = `${opts.out}.partial-${process.pid}`;
      const file = createWriteStream(partial);
      try {
        const result = await writeInvoiceCsv(db, input, file).finally(() => bar.stop());
        file.end();
        await finished(file);
        await rename(partial, opts.out);
        const totals = [...result.totals].map(
          ([currency, total]) => `${formatMinor(total, currency)} ${currency}`,
        );
        ctx.print(
          `wrote ${result.rows} rows to ${opts.out}${totals.length > 0 ? ` (total ${totals.join(', ')})` : ''}`,
        );
      } catch (error) {
        file.destroy();
        await rm(partial, { force: true });
        throw error;
      }
    });
}
