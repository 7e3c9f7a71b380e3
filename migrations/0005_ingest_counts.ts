import { type Kysely, sql } from 'kysely';

/*
 * Cheap counts for reconciliation. Frozen in time: never import application code here.
 *
 * ingest_counts: one row per ingested batch and tenant-day (never one per event): how many
 * events of that day the batch stored and how many it found already stored. Summing the rows of
 * a tenant-day gives the accepted events per source and the re-deliveries.
 *
 * run_failures: one row per failed attempt to bill a tenant-day (the transaction rolled back,
 * nothing of the day was written), so that "the last attempt failed" can be told from the
 * database alone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE ingest_counts (
      tenant_id   text COLLATE "C" NOT NULL,
      day         date NOT NULL,
      source      text NOT NULL,
      batch_at    timestamptz NOT NULL,
      accepted    integer NOT NULL CHECK (accepted >= 0),
      duplicates  integer NOT NULL CHECK (duplicates >= 0)
    );
    CREATE INDEX ingest_counts_tenant_day ON ingest_counts (tenant_id, day);

    CREATE TABLE run_failures (
      tenant_id   text COLLATE "C" NOT NULL,
      day         date NOT NULL,
      failed_at   timestamptz NOT NULL,
      trigger     text NOT NULL,
      error       text NOT NULL
    );
    CREATE INDEX run_failures_tenant_day ON run_failures (tenant_id, day, failed_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE run_failures, ingest_counts`.execute(db);
}
