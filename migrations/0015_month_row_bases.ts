import { type Kysely, sql } from 'kysely';

/*
 * The month rows as a base run and exceptions (issue 11, billing a day). Frozen in time: never
 * import application code here.
 *
 * Before, every charge run upserted one `invoice_month_rows` row per line: a month's first run
 * wrote each line twice (the line, then its row), every later day updated each row again, and
 * billing a 1,000,000-user day cost ~3x writing its lines alone. Now a tenant-month's FIRST
 * recorded run is its base (`invoice_month_bases`): each line of the base stands for a row that
 * holds every day the month's rows hold (the days `invoice_month_days` records), and
 * `invoice_month_rows` keeps only the exceptions, the keys whose days are not all of them
 * (a user who left, changed license or price, a daily user not active every day, a key the base
 * does not have). A row with no day left (quantity 0) is kept when it hides a key of the base.
 * A later day whose lines are the base's writes nothing but its own record.
 *
 * Months recorded before this migration have no base: all their rows are explicit, as before,
 * and are kept that way until the month ends.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE invoice_month_bases (
      tenant_id  text COLLATE "C" NOT NULL,
      month      text COLLATE "C" NOT NULL,
      run_id     bigint NOT NULL,
      PRIMARY KEY (tenant_id, month)
    )`.execute(db);
}

/** Back to explicit rows: the months that have a base get every row again, grouped from their current lines. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DELETE FROM invoice_month_rows m USING invoice_month_bases b
    WHERE m.tenant_id = b.tenant_id AND m.month = b.month;
    INSERT INTO invoice_month_rows (tenant_id, month, user_id, item, billing, unit_price, currency,
                                    days, quantity, amount, first_day, last_day)
    SELECT r.tenant_id, to_char(r.day, 'YYYY-MM'), l.user_id, l.item, l.billing, l.unit_price, r.currency,
           sum(1 << (extract(day FROM r.day)::int - 1))::int, count(*), sum(l.amount), min(r.day), max(r.day)
    FROM invoice_month_bases b
    JOIN runs r ON r.tenant_id = b.tenant_id AND r.is_current AND to_char(r.day, 'YYYY-MM') = b.month
    JOIN charge_lines l ON l.run_id = r.id
    GROUP BY r.tenant_id, to_char(r.day, 'YYYY-MM'), l.user_id, l.item, l.billing, l.unit_price, r.currency;
    DROP TABLE invoice_month_bases`.execute(db);
}
