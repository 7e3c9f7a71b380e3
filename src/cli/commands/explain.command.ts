import type { Command } from 'commander';
import { explainCharges } from '../../insight/explain.service.ts';
import { formatExplanation } from '../../insight/explain-format.ts';
import type { CliContext } from '../context.ts';
import { printReport, scopeOptions } from '../report.ts';

interface ExplainOptions {
  tenant: string;
  user: string;
  day?: string;
  month?: string;
  json?: boolean;
}

export function registerExplain(program: Command, ctx: CliContext): void {
  program
    .command('explain')
    .description('why a user was (or was not) billed, day by day: versions, license, logins, prices, run')
    .requiredOption('--tenant <id>', 'the tenant')
    .requiredOption('--user <id>', 'the user')
    .option('--day <D>', 'one day, YYYY-MM-DD')
    .option('--month <YYYY-MM>', 'every day of a month up to the latest billable day')
    .option('--json', 'one JSON object (amounts in minor units)')
    .action(async (opts: ExplainOptions) => {
      await printReport(
        ctx,
        opts.json,
        (db) => explainCharges(db, { ...scopeOptions(opts), userId: opts.user, now: new Date() }),
        formatExplanation,
      );
    });
}
