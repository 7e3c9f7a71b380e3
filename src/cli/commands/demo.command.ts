import path from 'node:path';
import type { Command } from 'commander';
import { openDatabase } from '../../db/connection.ts';
import { type DemoObserver, runDemo } from '../../demo/demo.service.ts';
import { formatInsight, formatSummary } from '../../demo/demo-summary.ts';
import { formatMinor, type Minor } from '../../domain/money.ts';
import type { CliContext } from '../context.ts';
import type { Progress } from '../progress.ts';

/** `demo-20261128-051300`: a fresh directory name per run, from the wall clock (an adapter may read it). */
function stamp(now: Date): string {
  return `demo-${now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
}

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description(
      'end-to-end demonstration on the embedded database: sample tenant, users, a month of logins, billing, invoice CSV; on a terminal, progress bars then a summary (per-day logs with --verbose); see docs/cli.md',
    )
    .option(
      '--out-dir <dir>',
      'where the sample files and the invoice CSV go (default: a new ./.billing/demo-<time>)',
    )
    .action(async (opts: { outDir?: string }) => {
      const started = Date.now();
      const outDir = path.resolve(opts.outDir ?? path.join('.billing', stamp(new Date(started))));
      // Always the embedded database, so the demo needs nothing installed and never writes
      // sample data into a real one. BILLING_DATA_DIR when given (it must not hold a demo yet),
      // else a fresh one beside the files so that running the demo again always works.
      const dataDir = process.env.BILLING_DATA_DIR
        ? path.resolve(ctx.config.BILLING_DATA_DIR)
        : path.join(outDir, 'db');
      // One bar per stage on a terminal (stderr), each left on its line when the next starts.
      let bar: Progress | undefined;
      const observer: DemoObserver = {
        stage: (name, total, unit) => {
          bar?.stop();
          const current = ctx.progress(name, total, unit);
          bar = current;
          return (done) => current.update(done);
        },
      };
      const conn = await openDatabase({ dataDir });
      try {
        const r = await runDemo(conn.db, outDir, ctx.logger, observer).finally(() => bar?.stop());
        const money = (amount: Minor) => `${formatMinor(amount, r.tenant.currency)} ${r.tenant.currency}`;
        ctx.print(
          [
            `billing demo: tenant ${r.tenant.id} (${r.tenant.timezone}, ${r.tenant.currency}), month ${r.month}`,
            `database:   ${dataDir} (embedded)`,
            `users:      ${r.users} (${r.settings.stored} settings versions from ${r.files.settings})`,
            `logins:     ${r.logins.accepted} accepted, ${r.logins.duplicates} duplicates, ${r.logins.rejected} rejected (${r.files.logins})`,
            `billed:     ${r.billing.days} days, ${r.billing.lines} charge lines, total ${money(r.billing.total)}`,
            `invoice:    ${r.files.invoice} (${r.invoice.rows} rows, total ${money(r.invoice.total)})`,
            `time:       ${((Date.now() - started) / 1000).toFixed(1)} s`,
            '',
            formatSummary(r.summary, r.tenant.currency),
            '',
            formatInsight(r.insight, process.stdout.isTTY === true),
          ].join('\n'),
        );
        ctx.logger.info({ seconds: (Date.now() - started) / 1000 }, 'demo finished');
      } finally {
        await conn.close();
      }
    });
}
