import { type Kysely, Migrator } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import type { Database } from '../../src/db/database.ts';

/**
 * A migrator over the project's migrations, for the tests that stop a database at an old
 * schema, store rows the way that schema did, and then migrate on.
 */
export function migratorFor(db: Kysely<Database>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}
