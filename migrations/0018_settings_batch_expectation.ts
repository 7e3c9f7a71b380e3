import { type Kysely, sql } from 'kysely';

/*
 * A settings import's batch in ONE message (issue 10). Frozen in time: never import application
 * code here.
 *
 * The file import plans a batch of brand-new users in Node (their versions, intervals and day
 * marks, the marks in the tenants' time zones as the import read them) and sends it with its
 * locks, a check and COMMIT as one message, so the batch's transaction never waits for Node while
 * it holds its tenants' locks. The check is the only part that must run on the server, after the
 * locks: it fails the batch when a user already has a version or a tenant's zone is no longer
 * the one planned with. Plain SQL cannot raise an error, hence this function: the batch's check
 * calls it for the first row that breaks the plan, and it raises SQLSTATE `BL001`, which the
 * importer recognises as "plan again" (it rolls back and takes the general path). VOLATILE (the
 * default), so the planner never evaluates it ahead of the rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE FUNCTION settings_batch_unexpected(what text) RETURNS boolean
    LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the settings batch is not as planned: %', what USING ERRCODE = 'BL001';
    END
    $$
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION settings_batch_unexpected(text)`.execute(db);
}
