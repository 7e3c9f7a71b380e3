import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import type { Db } from '../db/database.ts';
import { openInput } from '../ingest/line-source.ts';
import type { CliContext } from './context.ts';
import { importCountsJsonOption, importFileArgument } from './options.ts';

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

/** What an import command's work gets: the database, its file opened, and how to report a refused line. */
export interface ImportInput {
  db: Db;
  input: Readable;
  /** Writes `file:line: reason` to stderr (`stdin` for `-`): the one format of a refused line. */
  refuse: (r: { lineNo: number; reason: string }) => void;
  /** The file as named in messages and kept rejects (`stdin` for `-`). */
  name: string;
}

/**
 * Registers `<parent> import <file> [--json]`: opens the file (`-`: standard input) and the
 * database, then runs `work` with them.
 */
export function registerImport(
  parent: Command,
  ctx: CliContext,
  description: string,
  work: (i: ImportInput, file: string, opts: { json?: boolean }) => Promise<void>,
): void {
  parent
    .command('import')
    .description(description)
    .addArgument(importFileArgument())
    .addOption(importCountsJsonOption())
    .action(async (file: string, opts: { json?: boolean }) => {
      const input = await openInput(file);
      const { db } = await ctx.database();
      const name = file === '-' ? 'stdin' : file;
      const refuse = (r: { lineNo: number; reason: string }) =>
        process.stderr.write(`${name}:${r.lineNo}: ${r.reason}\n`);
      await work({ db, input, refuse, name }, file, opts);
    });
}
