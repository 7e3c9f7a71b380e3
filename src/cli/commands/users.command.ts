import type { Command } from 'commander';
import { openInput } from '../../ingest/line-source.ts';
import { importSettingsFile } from '../../ingest/settings-file-import.ts';
import type { CliContext } from '../context.ts';

export function registerUsers(program: Command, ctx: CliContext): void {
  const users = program.command('users').description('user settings versions');
  users
    .command('import')
    .description(
      'import settings versions from NDJSON (one version per line); exit 2 if any line was refused',
    )
    .argument('<file>', 'NDJSON file, or - for standard input')
    .option('--json', 'print the counts as one JSON object on the last line')
    .action(async (file: string, opts: { json?: boolean }) => {
      const input = await openInput(file);
      const { db } = await ctx.database();
      const result = await importSettingsFile(db, input, () => new Date());
      const name = file === '-' ? 'stdin' : file;
      for (const r of result.refused) process.stderr.write(`${name}:${r.lineNo}: ${r.reason}\n`);
      const more = result.refusedTotal - result.refused.length;
      if (more > 0)
        process.stderr.write(
          `... and ${more} more refused lines (only the first ${result.refused.length} are listed)\n`,
        );
      ctx.print(`stored ${result.stored}, unchanged ${result.unchanged}, refused ${result.refusedTotal}`);
      if (opts.json) {
        ctx.print(
          JSON.stringify({
            stored: result.stored,
            unchanged: result.unchanged,
            refused: result.refusedTotal,
          }),
        );
      }
      if (result.refusedTotal > 0) process.exitCode = 2;
    });
}
