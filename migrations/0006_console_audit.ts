import { type Kysely, sql } from 'kysely';

/*
 * The console's tables. Frozen in time: never import application code here.
 *
 * console_audit: one row per action taken in the console (close a month, queue a replay), also
 * when it was refused or failed: who (the admin user), when, what, on which tenant and month or
 * day, the outcome and its message. Rows are only ever inserted.
 *
 * console_run_totals: per run, its lines summed by (item, billing). A run's lines never change
 * once it is committed (a later run supersedes it and keeps them), so the sums, computed the
 * first time the console shows the run's month, stay true forever: a month page then adds up
 * ~31 runs x ~10 items instead of reading every line of the month.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE console_audit (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at         timestamptz NOT NULL DEFAULT clock_timestamp(),
      actor      text NOT NULL,
      action     text NOT NULL CHECK (action IN ('close-month', 'queue-replay')),
      tenant_id  text COLLATE "C" NOT NULL,
      subject    text NOT NULL,
      outcome    text NOT NULL CHECK (outcome IN ('done', 'refused', 'failed')),
      detail     text NOT NULL
    );
    CREATE INDEX console_audit_tenant_at ON console_audit (tenant_id, at);

    CREATE TABLE console_run_totals (
      run_id   bigint NOT NULL REFERENCES runs (id),
      item     text COLLATE "C" NOT NULL,
      billing  text NOT NULL,
      lines    integer NOT NULL,
      amount   bigint NOT NULL,
      PRIMARY KEY (run_id, item, billing)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE console_run_totals, console_audit`.execute(db);
}
