import type { Command } from 'commander';
import { previewLicense } from '../../ingest/license-preview.ts';
import { isBadLine, openInput, parseJsonLine, readLines } from '../../ingest/line-source.ts';
import type { CliContext } from '../context.ts';

export function registerLicense(program: Command, ctx: CliContext): void {
  const license = program.command('license').description('the license rules of docs/licensing.md');
  license
    .command('resolve')
    .description(
      'NDJSON settings in, one NDJSON result (or {"error"}) per non-blank line out; exit 2 if any line was bad',
    )
    .argument('[file]', 'NDJSON file, or - for standard input', '-')
    .action(async (file: string) => {
      const input = await openInput(file);
      let bad = 0;
      for await (const line of readLines(input)) {
        const json = isBadLine(line) ? { ok: false as const, reason: line.reason } : parseJsonLine(line.text);
        const preview = json.ok ? previewLicense(json.value) : { ok: false as const, error: json.reason };
        if (preview.ok) {
          const { license: l, billing, addons, reasons } = preview.result;
          ctx.print(JSON.stringify({ license: l, billing, addons, reasons }));
        } else {
          bad += 1;
          ctx.print(JSON.stringify({ error: `line ${line.lineNo}: ${preview.error}` }));
        }
      }
      if (bad > 0) process.exitCode = 2;
    });
}
