import type { Command } from 'commander';
import {
  type BillRangeInput,
  type BillRangeResult,
  billRange,
  failedDays,
} from '../billing/run-range.service.ts';
import { AppError, OperationError } from '../errors.ts';
import type { CliContext } from './context.ts';
import { checkDayOrder, parseDayOption } from './options.ts';

/** Tenants billed at once by `run` and `replay` on real PostgreSQL (within DATABASE_POOL_SIZE). */
const RANGE_LANES = 4;

export interface RangeOptions {
  day: string;
  to?: string;
  tenant?: string;
}

/**
 * A command over a range of tenant-days billed in this process (`run`, `replay`): the range
 * options and whatever `options` adds, `runRangeFromCli` with `extra`, then `print` of the
 * results and `finishRange` (exit code, failed days).
 */
export function registerRangeCommand<O extends RangeOptions>(
  program: Command,
  ctx: CliContext,
  spec: {
    name: string;
    description: string;
    options?: (cmd: Command) => Command;
    extra: (opts: O) => Pick<BillRangeInput, 'trigger' | 'dryRun' | 'maxDiffRows'>;
    print: (result: BillRangeResult, opts: O) => void;
  },
): void {
  const cmd = rangeOptions(program.command(spec.name).description(spec.description));
  (spec.options?.(cmd) ?? cmd).action(async (opts: O) => {
    const result = await runRangeFromCli(ctx, opts, spec.extra(opts));
    spec.print(result, opts);
    finishRange(result);
  });
}

/** The options `run`, `replay` and `queue replay` share. */
export function rangeOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--day <D>', 'first day, YYYY-MM-DD (tenant-local)', parseDayOption('--day'))
    .option('--to <D2>', 'last day, inclusive (default: --day)', parseDayOption('--to'))
    .option('--tenant <id>', 'one tenant (default: every tenant)');
}

/**
 * Runs `billRange` for a command: a progress bar on stderr when it is a terminal and the range
 * has more than one tenant-day; SIGINT stops between tenant-days (each is atomic), says where it
 * stopped and exits 130, so the same command resumes it.
 */
export async function runRangeFromCli(
  ctx: CliContext,
  opts: RangeOptions,
  extra: Pick<BillRangeInput, 'trigger' | 'dryRun' | 'maxDiffRows'>,
): Promise<BillRangeResult> {
  checkDayOrder(opts);
  const { db, kind } = await ctx.database();
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\nbilling: stopping after the current tenant-day (Ctrl-C again to quit now)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  const bar = ctx.progress('billing', 0, 'tenant-days');
  try {
    return await billRange(
      db,
      {
        tenantId: opts.tenant,
        from: opts.day,
        to: opts.to,
        now: new Date(),
        signal: abort.signal,
        // Round trips, not the server's CPU, bound a night of small tenants: a few tenants at
        // once on real PostgreSQL; the embedded database runs one transaction at a time.
        concurrency: kind === 'embedded' ? 1 : RANGE_LANES,
        ...extra,
        onProgress: ({ done, total, tenantId, day }) => {
          bar.setTotal(total);
          bar.update(done, `${tenantId} ${day}`);
        },
      },
      ctx.logger,
    );
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
  }
}

/**
 * One closing line for a range of more than one tenant-day (the per-day lines above it may be
 * many): how many were billed, adjusted (closed period), dry-run, skipped and failed.
 */
export function rangeSummary(result: BillRangeResult): string | undefined {
  if (result.results.length < 2) return undefined;
  const counts = new Map<string, number>();
  for (const r of result.results) {
    const status = 'outcome' in r ? r.outcome.status : 'failed';
    counts.set(status, (counts.get(status) ?? 0) + 1);
  }
  const parts = ['billed', 'adjusted', 'dry-run', 'skipped', 'failed']
    .filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${s}`);
  return `${result.results.length} tenant-days: ${parts.join(', ')}${result.interrupted ? ' (interrupted)' : ''}`;
}

/** The line of a range of days before the tenant's first day. */
export function skippedLine(r: { tenantId: string; day: string; through?: string | undefined }): string {
  return `${r.tenantId} ${r.day}${r.through ? `..${r.through}` : ''}: skipped (before the tenant's first day)`;
}

/** After printing: exit 130 when interrupted, exit 1 naming every failed tenant-day. */
export function finishRange(result: BillRangeResult): void {
  const failed = failedDays(result);
  for (const f of failed) process.stderr.write(`billing: ${f.error.message}\n`);
  if (result.interrupted) {
    const last = result.results[result.results.length - 1];
    process.stderr.write(
      `billing: interrupted after ${result.results.length} tenant-day(s)${last ? ` (last: ${last.tenantId} ${last.day})` : ''}; every tenant-day is either done or untouched: run the command again to resume\n`,
    );
    process.exitCode = 130;
    return;
  }
  if (failed.length > 0) {
    const exit2 = failed.every((f) => f.error instanceof AppError && f.error.exitCode === 2);
    const names = failed.map((f) => `${f.tenantId} ${f.day}`).join(', ');
    const message = `${failed.length} tenant-day(s) failed: ${names}`;
    throw exit2 ? new AppError(message, 'DAYS_FAILED', 2) : new OperationError(message, 'DAYS_FAILED');
  }
}
