import { type Kysely, sql } from 'kysely';

/*
 * The write of a charge run's lines without a per-line check (issue 11, read paths). Frozen in
 * time: never import application code here.
 *
 * charge_lines.run_id -> runs.id loses its foreign key. The check ran once per inserted line
 * (an RI trigger probing runs and locking the run's row FOR KEY SHARE): ~20-30% of the insert of
 * a day's lines, for a run row the same transaction inserted one statement earlier. The lines
 * are written only by billing, under the run it has just inserted, and a run is only ever
 * deleted before any line was written under it (a batch's runs left for the next batch), a
 * delete that refuses a run with lines (docs/decisions.md, "Charge write speed").
 * adjustment_lines keeps its foreign key (a few lines per run).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_run_id_fkey`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE charge_lines ADD CONSTRAINT charge_lines_run_id_fkey FOREIGN KEY (run_id) REFERENCES runs (id)
  `.execute(db);
}
