import type { Command } from 'commander';
import { formatMinor } from '../../domain/money.ts';
import { rangeSummary, registerRangeCommand, skippedLine } from '../billing-range.ts';
import type { CliContext } from '../context.ts';

export function registerRun(program: Command, ctx: CliContext): void {
  registerRangeCommand(program, ctx, {
    name: 'run',
    description: 'bill a day or an inclusive range of days now, in this process (trigger "manual")',
    // The output names no changed lines, so none are read back (a night saves a query a day).
    extra: () => ({ trigger: 'manual', maxDiffRows: 0 }),
    print: (result) => {
      const currencies = new Map(result.tenants.map((t) => [t.id, t.currency]));
      for (const r of result.results) {
        if (!('outcome' in r)) continue;
        const o = r.outcome;
        const cur = currencies.get(r.tenantId) ?? '';
        if (o.status === 'billed') {
          ctx.print(
            `${r.tenantId} ${r.day}: billed, run ${o.runId}, ${o.lineCount} lines, total ${formatMinor(o.total, cur)} ${cur}`,
          );
        } else if (o.status === 'adjusted') {
          ctx.print(
            o.runId === null
              ? `${r.tenantId} ${r.day}: closed period, nothing changed`
              : `${r.tenantId} ${r.day}: closed period, ${o.lineCount} adjustment lines (${formatMinor(o.total, cur)} ${cur}) into ${o.period}, run ${o.runId}`,
          );
        } else if (o.status === 'skipped') {
          ctx.print(skippedLine(r));
        }
      }
      const summary = rangeSummary(result);
      if (summary) ctx.print(summary);
    },
  });
}
