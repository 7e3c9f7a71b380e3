import { sql } from 'kysely';
import type { Db } from '../database.ts';

/**
 * Whether the database is real PostgreSQL, which streams COPY both ways (`COPY … FROM STDIN`
 * for the imports, `COPY … TO STDOUT` for the export), rather than the embedded PGlite, which
 * does neither over this driver: its paths use statements with parameters and a cursor.
 */
export async function streamsCopy(db: Db): Promise<boolean> {
  const { rows } = await sql<{ v: string }>`SELECT version() AS v`.execute(db);
  return !String(rows[0]?.v).includes('PGlite');
}
