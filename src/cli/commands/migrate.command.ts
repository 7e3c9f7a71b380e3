import type { Command } from 'commander';
import { migrateToLatest } from '../../db/migrator.ts';
import type { CliContext } from '../context.ts';

export function registerMigrate(program: Command, ctx: CliContext): void {
  program
    .command('migrate')
    .description('apply pending database migrations (running it again changes nothing)')
    .action(async () => {
      const { db } = await ctx.database({ migrate: false });
      const results = await migrateToLatest(db);
      const applied = results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
      ctx.print(
        applied.length > 0 ? `applied: ${applied.join(', ')}` : 'nothing to apply: the schema is up to date',
      );
    });
}
