import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import type { Command } from 'commander';
import { importSettingsFile } from '../../ingest/settings-file-import.ts';
import type { CliContext } from '../context.ts';
import { printImportCounts, registerImport } from '../import-counts.ts';

/** A pass-through that reports the running byte count. */
function countBytes(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      onBytes(total);
      done(null, chunk);
    },
  });
}

export function registerUsers(program: Command, ctx: CliContext): void {
  const users = program.command('users').description('user settings versions');
  registerImport(
    users,
    ctx,
    'import settings versions from NDJSON (one version per line); refused lines are kept as rejects; exit 2 if any line was refused',
    async ({ db, input, refuse, name }, file, opts) => {
      // Progress on a terminal: the bytes of the file read so far, counted as they pass.
      const bar = ctx.progress('users', file === '-' ? 0 : Math.ceil((await stat(file)).size / 1024), 'KB');
      const counted = ctx.showProgress
        ? input.pipe(countBytes((n) => bar.update(Math.ceil(n / 1024))))
        : input;
      if (counted !== input) input.on('error', (e) => counted.destroy(e));
      const result = await importSettingsFile(db, counted, () => new Date(), { name }).finally(() =>
        bar.stop(),
      );
      for (const r of result.refused) refuse(r);
      const more = result.refusedTotal - result.refused.length;
      if (more > 0)
        process.stderr.write(
          `... and ${more} more refused lines (only the first ${result.refused.length} are listed)\n`,
        );
      const { stored, unchanged, refusedTotal: refused } = result;
      printImportCounts(ctx, { stored, unchanged, refused }, refused, opts.json);
    },
  );
}
