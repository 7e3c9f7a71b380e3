import { type Kysely, sql } from 'kysely';

/*
 * The invoice CSV's charge rows, finished before the export asks for them (issue 11, read
 * paths). Frozen in time: never import application code here.
 *
 * invoice_month_rows: per tenant and month (`YYYY-MM` of the lines' day), one row per (user,
 * item, billing, unit price, currency) of the month's CURRENT charge lines, exactly what the
 * export used to group on every call: `quantity` days, `amount` their sum (minor units),
 * `first_day`/`last_day`. `days` has bit d-1 set for each day d of the month in the row: a
 * tenant-day has one current run and a run one line per (user, item), so a day is in a row at
 * most once and a superseded run's day can be taken out again exactly (first/last day are
 * recomputed from the bits). Every charge run keeps it in its own transaction (its lines added,
 * the superseded run's lines subtracted; a row left with no day is deleted). Adjustment lines
 * are not here: they are only ever inserted, few, and keep being grouped at export time.
 *
 * The primary key is the row's identity (for the upsert); the second index is the file's order
 * (user, item, billing, first day, unit price, all text `COLLATE "C"`), so the export of one
 * tenant-month is an ordered index read. fillfactor 50: every run updates each row of its
 * month once; with room on the page the update is HOT (no index touched, the row stays where
 * the ordered read expects it) and the previous version is pruned by the next one.
 *
 * invoice_month_days: per tenant-day, the run whose lines the month rows hold (the current run
 * when every current run went through billing). The export compares it with `runs` and groups
 * the lines itself for a month where they differ (a run inserted or superseded by hand).
 *
 * Backfill: every month of every tenant from the current charge runs' lines.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE invoice_month_rows (
      tenant_id   text COLLATE "C" NOT NULL,
      month       text COLLATE "C" NOT NULL,
      user_id     text COLLATE "C" NOT NULL,
      item        text COLLATE "C" NOT NULL,
      billing     text COLLATE "C" NOT NULL,
      unit_price  bigint NOT NULL,
      currency    char(3) NOT NULL,
      days        integer NOT NULL,
      quantity    integer NOT NULL,
      amount      bigint NOT NULL,
      first_day   date NOT NULL,
      last_day    date NOT NULL,
      PRIMARY KEY (tenant_id, month, user_id, item, billing, unit_price, currency)
    ) WITH (fillfactor = 50);
    CREATE INDEX invoice_month_rows_file_order
      ON invoice_month_rows (tenant_id, month, user_id, item, billing, first_day, unit_price);

    CREATE TABLE invoice_month_days (
      tenant_id  text COLLATE "C" NOT NULL,
      day        date NOT NULL,
      run_id     bigint NOT NULL,
      PRIMARY KEY (tenant_id, day)
    );
    INSERT INTO invoice_month_days (tenant_id, day, run_id)
    SELECT tenant_id, day, id FROM runs WHERE is_current;

    INSERT INTO invoice_month_rows (tenant_id, month, user_id, item, billing, unit_price, currency,
                                    days, quantity, amount, first_day, last_day)
    SELECT r.tenant_id, to_char(r.day, 'YYYY-MM'), l.user_id, l.item, l.billing, l.unit_price, r.currency,
           sum(1 << (extract(day FROM r.day)::int - 1))::int, count(*), sum(l.amount), min(r.day), max(r.day)
    FROM runs r
    JOIN charge_lines l ON l.run_id = r.id
    WHERE r.is_current
    GROUP BY r.tenant_id, to_char(r.day, 'YYYY-MM'), l.user_id, l.item, l.billing, l.unit_price, r.currency;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE invoice_month_rows, invoice_month_days`.execute(db);
}
