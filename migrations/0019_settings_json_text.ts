import { type Kysely, sql } from 'kysely';

/*
 * A settings version keeps its settings and its license's reasons as `json` (the exact text
 * written, checked to be JSON) instead of `jsonb` (issue 10). Frozen in time: never import
 * application code here.
 *
 * Nothing in SQL looks inside either column: every reader takes the whole value and parses it
 * in the application, and versions are compared there. `jsonb` made the server build its binary
 * form of both documents for every version written, which nothing used: copying 1,000,000
 * finished versions into a table of their shape took 6.4-6.9 s with both columns `jsonb`,
 * 5.4-5.6 s with `json` and 4.8-4.9 s with `text` (docs/performance/settings.md). `json` keeps the
 * server's check that the value is JSON (a hand-written seed cannot store a broken document) for
 * a third of what `jsonb` cost. The rows already stored keep their documents (as `jsonb` printed
 * them: the same values).
 */
/** Both documents of every version as `type`, each converted through its text. */
async function retype(db: Kysely<unknown>, type: 'json' | 'jsonb'): Promise<void> {
  const t = sql.raw(type);
  await sql`
    ALTER TABLE settings_versions
      ALTER COLUMN settings TYPE ${t} USING settings::${t},
      ALTER COLUMN reasons TYPE ${t} USING reasons::${t}
  `.execute(db);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await retype(db, 'json');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await retype(db, 'jsonb');
}
