import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { formatMinor } from '../../domain/money.ts';
import { InputError } from '../../errors.ts';
import { writeInvoiceCsv } from '../../export/invoice-csv.ts';
import type { CliContext } from '../context.ts';
import { parseMonthOption } from '../options.ts';

/**
 * Creates FILE readable by its owner only (0600: the invoice holds names and e-mail addresses);
 * a path that cannot be written is bad input (exit 2) naming `shownAs`.
 */
async function createPrivateFile(file: string, shownAs: string): Promise<WriteStream> {
  const stream = createWriteStream(file, { mode: 0o600, flags: 'wx' });
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e: NodeJS.ErrnoException) => {
      const why =
        e.code === 'ENOENT'
          ? 'no such directory'
          : e.code === 'EACCES'
            ? 'permission denied'
            : e.code === 'ENOTDIR'
              ? 'a part of the path is not a directory'
              : e.message;
      reject(new InputError(`cannot write ${shownAs}: ${why}`));
    });
  });
  return stream;
}

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
    .option('--out <file>', 'write to FILE (created with mode 0600) instead of stdout')
    .action(async (opts: { month: string; tenant?: string; out?: string }) => {
      // Written beside the target and renamed at the end: FILE is either complete or untouched.
      // Opened before the database: a path that cannot be written fails at once.
      const partial = opts.out === undefined ? undefined : `${opts.out}.partial-${process.pid}`;
      const file = partial === undefined ? undefined : await createPrivateFile(partial, opts.out as string);
      // Progress on a terminal (stderr): rows written so far.
      const bar = ctx.progress('export', 0, 'rows');
      const input = {
        month: opts.month,
        tenantId: opts.tenant,
        ...(ctx.showProgress ? { onRows: (rows: number) => bar.update(rows) } : {}),
      };
      try {
        const { db } = await ctx.database();
        const result = await writeInvoiceCsv(db, input, file ?? process.stdout);
        bar.stop();
        if (file === undefined || partial === undefined || opts.out === undefined) {
          ctx.logger.info(
            { month: opts.month, tenantId: opts.tenant, rows: result.rows },
            'invoice CSV written',
          );
          return;
        }
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
        file?.destroy();
        if (partial !== undefined) await rm(partial, { force: true });
        throw error;
      } finally {
        bar.stop();
      }
    });
}
