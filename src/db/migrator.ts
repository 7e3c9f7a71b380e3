import { type Kysely, type MigrationResult, Migrator } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import { OperationError } from '../errors.ts';

/** A migration that failed: the database is left at the last migration that succeeded. Exit 1. */
export class MigrationError extends OperationError {
  constructor(message: string) {
    super(message, 'MIGRATION_FAILED');
  }
}

/** Applies every pending migration; running it again changes nothing. Returns what was applied. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db: db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const detail = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${detail}`);
  }
  return results ?? [];
}
