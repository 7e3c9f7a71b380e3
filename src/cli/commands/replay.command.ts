import type { Command } from 'commander';
import type { BillDayOutcome } from '../../billing/bill-day.service.ts';
import type { DayResult } from '../../billing/run-range.service.ts';
import { formatMinor } from '../../domain/money.ts';
import { type RangeOptions, rangeSummary, registerRangeCommand, skippedLine } from '../billing-range.ts';
import type { CliContext } from '../context.ts';

type Diffed = DayResult & { outcome: Exclude<BillDayOutcome, { status: 'skipped' }> };

function isDiffed(r: DayResult): r is Diffed {
  return 'outcome' in r && r.outcome.status !== 'skipped';
}

/** `--json` (docs/cli.md, replay): amounts in minor units. */
function toJson(r: Diffed) {
  const { totals, rows } = r.outcome.diff;
  return {
    tenantId: r.tenantId,
    day: r.day,
    status: r.outcome.status,
    before: totals.before,
    after: totals.after,
    delta: totals.delta,
    changes: rows.map((c) => ({
      userId: c.userId,
      item: c.item,
      billing: c.billing,
      before: c.before,
      after: c.after,
    })),
  };
}

function describe(o: Diffed['outcome']): string {
  if (o.status === 'billed') return `new current run ${o.runId}`;
  if (o.status === 'dry-run')
    return o.closedPeriod ? 'dry run, closed period: nothing written' : 'dry run: nothing written';
  return o.runId === null
    ? 'closed period: nothing changed, nothing written'
    : `closed period: ${o.lineCount} adjustment line(s) written into ${o.period} (run ${o.runId})`;
}

type ReplayOptions = RangeOptions & { dryRun?: boolean; json?: boolean };

export function registerReplay(program: Command, ctx: CliContext): void {
  registerRangeCommand(program, ctx, {
    name: 'replay',
    description: 're-bill days from the data as it is now and print the difference against what was billed',
    options: (cmd) =>
      cmd
        .option('--dry-run', 'compute and print the difference, write nothing')
        .option('--json', 'print {"days":[...]} with amounts in minor units'),
    extra: (opts: ReplayOptions) => ({ trigger: 'replay', dryRun: opts.dryRun ?? false, maxDiffRows: null }),
    print: (result, opts: ReplayOptions) => {
      const days = result.results.filter(isDiffed);
      if (opts.json) return ctx.print(JSON.stringify({ days: days.map(toJson) }));
      const currencies = new Map(result.tenants.map((t) => [t.id, t.currency]));
      for (const r of result.results) {
        if ('outcome' in r && r.outcome.status === 'skipped') ctx.print(skippedLine(r));
      }
      for (const r of days) {
        const cur = currencies.get(r.tenantId) ?? '';
        const m = (v: number) => formatMinor(v, cur);
        const { totals, rows } = r.outcome.diff;
        ctx.print(
          `${r.tenantId} ${r.day}: before ${m(totals.before)} ${cur}, after ${m(totals.after)} ${cur}, delta ${totals.delta > 0 ? '+' : ''}${m(totals.delta)} ${cur} — ${describe(r.outcome)}`,
        );
        if (rows.length === 0) ctx.print('  no change');
        for (const c of rows)
          ctx.print(`  ${c.userId}\t${c.item}\t${c.billing}\t${m(c.before)} -> ${m(c.after)}`);
      }
      const summary = rangeSummary(result);
      if (summary) ctx.print(summary);
    },
  });
}
