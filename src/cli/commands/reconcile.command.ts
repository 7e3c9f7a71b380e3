import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DEFAULT_JUMP, reconcileMonth } from '../../insight/reconcile.service.ts';
import { formatReconciliation } from '../../insight/reconcile-format.ts';
import type { CliContext } from '../context.ts';
import { printReport } from '../report.ts';

interface ReconcileOptions {
  month: string;
  tenant?: string;
  json?: boolean;
  failOnAnomaly?: boolean;
  jump: number;
}

const parseJump = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`--jump must be a number >= 0 (e.g. 0.3 for 30 %), got "${value}"`);
  }
  return n;
};

export function registerReconcile(program: Command, ctx: CliContext): void {
  program
    .command('reconcile')
    .description('per tenant-day: events, duplicates, rejects, active users, run status and anomalies')
    .requiredOption('--month <YYYY-MM>', 'the month')
    .option('--tenant <id>', 'one tenant')
    .option('--json', 'one JSON object {month, unattributedRejects, rows} (amounts in minor units)')
    .option('--fail-on-anomaly', 'exit 1 when any row has an anomaly')
    .option(
      '--jump <ratio>',
      'total-jump threshold: relative difference from the median',
      parseJump,
      DEFAULT_JUMP,
    )
    .action(async (opts: ReconcileOptions) => {
      const result = await printReport(
        ctx,
        opts.json,
        (db) =>
          reconcileMonth(db, { month: opts.month, tenantId: opts.tenant, jump: opts.jump, now: new Date() }),
        (r) => formatReconciliation(r, process.stdout.isTTY === true),
      );
      if (opts.failOnAnomaly && result.rows.some((r) => r.anomalies.length > 0)) process.exitCode = 1;
    });
}
