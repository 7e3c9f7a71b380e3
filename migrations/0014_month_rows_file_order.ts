import { type Kysely, sql } from 'kysely';

/*
 * The month rows in file order from their primary key (issue 11, export). Frozen in time: never
 * import application code here.
 *
 * `invoice_month_rows`' primary key (tenant_id, month, user_id, item, billing, unit_price,
 * currency; all text `COLLATE "C"`) already is the invoice file's order up to `billing`; the
 * file then orders by first_day and unit_price, which only decides between the rows of one
 * (user, item, billing), almost always a single row. Read through the primary key, the export
 * sorts just those groups (an Incremental Sort on first_day, unit_price with (user, item,
 * billing) presorted), which measured the same as reading the second index
 * `invoice_month_rows_file_order` (backend CPU, 226,000 rows: 470-560 ms against 490-510 ms).
 * Without that index billing maintains one index per month row instead of two: inserting a
 * month's first rows cost ~0.5 s less per 226,000 rows, and a back-dated run that moves a row's
 * first_day updates it HOT (first_day is in no index any more).
 *
 * The fillfactor stays 50: a charge run updates every row of its month that it touches once, in
 * one transaction, so a page needs room for a new version of each of its rows (versions made in
 * the same transaction cannot be pruned). Measured on 217,200 updated rows of 226,000: 100% HOT
 * at fillfactor 50, 71% at 60, 34% at 75 (there the indexes doubled and the heap was no smaller).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX invoice_month_rows_file_order`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX invoice_month_rows_file_order
    ON invoice_month_rows (tenant_id, month, user_id, item, billing, first_day, unit_price)`.execute(db);
}
