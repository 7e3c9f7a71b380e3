import type { Command } from 'commander';
import { listRuns, type Run } from '../../billing/runs.service.ts';
import { formatMinor } from '../../domain/money.ts';
import type { CliContext } from '../context.ts';
import { parseDayOption, parseMonthOption } from '../options.ts';
import { printReport, scopeOptions } from '../report.ts';

interface RunsOptions {
  tenant?: string;
  month?: string;
  day?: string;
  history?: boolean;
  json?: boolean;
}

const money = (r: Run) => `${formatMinor(r.total, r.currency)} ${r.currency}`;

/** A run as `billing runs --json` prints it (amounts in minor units, instants in ISO 8601). */
function runJson(r: Run) {
  return {
    runId: r.id,
    tenantId: r.tenantId,
    day: r.day,
    kind: r.kind,
    trigger: r.trigger,
    isCurrent: r.isCurrent,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
    supersededAt: r.supersededAt?.toISOString() ?? null,
    inputRevision: Number(r.inputRevision),
    lineCount: r.lineCount,
    total: r.total,
    currency: r.currency,
    jobId: r.jobId,
  };
}

function historyLine(r: Run): string {
  const state = r.isCurrent
    ? 'current'
    : r.kind === 'adjustment'
      ? 'adjustment'
      : `superseded ${r.supersededAt?.toISOString() ?? ''}`;
  return [
    `run ${r.id}`,
    r.tenantId,
    r.day,
    r.kind,
    r.trigger,
    state,
    `started ${r.startedAt.toISOString()}`,
    `finished ${r.finishedAt.toISOString()}`,
    `revision ${r.inputRevision}`,
    `${r.lineCount} lines`,
    money(r),
    r.jobId ? `job ${r.jobId}` : '',
  ]
    .filter(Boolean)
    .join('\t');
}

export function registerRuns(program: Command, ctx: CliContext): void {
  program
    .command('runs')
    .description('list the current runs; with --history every run (superseded and adjustment runs too)')
    .option('--tenant <id>', 'one tenant')
    .option('--month <YYYY-MM>', 'days of one month', parseMonthOption('--month'))
    .option('--day <D>', 'one day, YYYY-MM-DD', parseDayOption('--day'))
    .option('--history', 'every run, not only current ones: which runs, why (trigger), when, totals')
    .option('--json', 'one JSON array (amounts in minor units)')
    .action(async (opts: RunsOptions) => {
      await printReport(
        ctx,
        opts.json,
        (db) => listRuns(db, { ...scopeOptions(opts), history: opts.history ?? false }),
        (runs) => {
          if (runs.length === 0) return opts.history ? 'no runs' : 'no current runs';
          return runs.map((r) => (opts.history ? historyLine(r) : currentLine(r))).join('\n');
        },
        (runs) => runs.map(runJson),
      );
    });
}

/** A current run as `billing runs` prints it. */
function currentLine(r: Run): string {
  return [r.tenantId, r.day, r.trigger, r.finishedAt.toISOString(), `${r.lineCount} lines`, money(r)].join(
    '\t',
  );
}
