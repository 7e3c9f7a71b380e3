import type { CliContext } from './context.ts';

/**
 * How every import command ends: its counts on one line (`stored 2, unchanged 0, refused 1`),
 * with `--json` the same counts again as one JSON object on the last line, and exit code 2 when
 * `refused` (the count of the lines it did not take) is not 0. The keys keep their order.
 */
export function printImportCounts(
  ctx: CliContext,
  counts: Record<string, number>,
  refused: number,
  json: boolean | undefined,
): void {
  ctx.print(
    Object.entries(counts)
      .map(([name, n]) => `${name} ${n}`)
      .join(', '),
  );
  if (json) ctx.print(JSON.stringify(counts));
  if (refused > 0) process.exitCode = 2;
}
