import { type RawBuilder, sql } from 'kysely';
import { daysIn, runsOfDays } from '../../domain/month-days.ts';

// A month's days as bits (bit d-1 = day d, as in `invoice_month_rows.days`), and what a charge
// line of a key holds on them. Rule "charge lines" (docs/billing.md): a line's amount follows from
// its billing, its unit price and its day alone (a monthly share floor(P*d/n) - floor(P*(d-1)/n),
// integer division of non-negative bigints; a daily line is the daily price), so the amount of a
// key over a set of days is computed, never stored per day.

/** The amount of one line of (billing, unit price) on day `dom` of an `n`-day month (bigint). */
export function lineAmountSql(
  billing: RawBuilder<unknown>,
  price: RawBuilder<unknown>,
  dom: RawBuilder<unknown>,
  n: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`(CASE WHEN ${billing} = 'monthly' THEN ${price} * ${dom} / ${n} - ${price} * (${dom} - 1) / ${n}
                   ELSE ${price} END)`;
}

/** The amount of a key's lines on the days of `mask` (an SQL int), one term per possible day. */
export function amountOfDaysSql(
  billing: RawBuilder<unknown>,
  price: RawBuilder<unknown>,
  mask: RawBuilder<unknown>,
  n: RawBuilder<unknown>,
): RawBuilder<unknown> {
  const shares = Array.from(
    { length: 31 },
    (_, i) =>
      sql`CASE WHEN ${mask} & ${sql.raw(String(2 ** i))} <> 0
               THEN ${price} * ${sql.raw(String(i + 1))} / ${n} - ${price} * ${sql.raw(String(i))} / ${n} ELSE 0 END`,
  );
  return sql`(CASE WHEN ${billing} = 'monthly' THEN ${sql.join(shares, sql` + `)}
                   ELSE ${price} * bit_count(${mask}::bit(31)) END)`;
}

/**
 * `amountOfDaysSql` for days known before the query is built: each run of consecutive days
 * a..b adds floor(P*b/n) - floor(P*(a-1)/n) (the shares of a run telescope), so the usual
 * month, its days one run, costs one term a row.
 */
export function amountOfKnownDaysSql(
  billing: RawBuilder<unknown>,
  price: RawBuilder<unknown>,
  mask: number,
  n: number,
): RawBuilder<unknown> {
  const terms = runsOfDays(mask).map(
    ([a, b]) =>
      sql`${price} * ${sql.raw(String(b))} / ${sql.raw(String(n))} - ${price} * ${sql.raw(String(a - 1))} / ${sql.raw(String(n))}`,
  );
  const monthly = terms.length === 0 ? sql`0` : sql.join(terms, sql` + `);
  return sql`(CASE WHEN ${billing} = 'monthly' THEN ${monthly} ELSE ${price} * ${sql.raw(String(daysIn(mask)))} END)`;
}

/** The first day of `mask` as a date from `monthStart` (the month's first day; itself for no day). */
export function firstDayOfSql(
  mask: RawBuilder<unknown>,
  monthStart: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`(CASE WHEN ${mask} = 0 THEN ${monthStart}
                   ELSE ${monthStart} + (position('1' IN reverse(${mask}::bit(31)::text)) - 1) END)`;
}

/** The last day of `mask` as a date from `monthStart` (the month's first day; itself for no day). */
export function lastDayOfSql(
  mask: RawBuilder<unknown>,
  monthStart: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`(CASE WHEN ${mask} = 0 THEN ${monthStart}
                   ELSE ${monthStart} + (31 - position('1' IN ${mask}::bit(31)::text)) END)`;
}

/**
 * The days a tenant-month records (`invoice_month_days`) as bits: an SQL int, 0 for none.
 * `tenant` and `monthStart` (a date, the month's first day) are SQL expressions.
 */
export function recordedDaysSql(
  tenant: RawBuilder<unknown>,
  monthStart: RawBuilder<unknown>,
): RawBuilder<unknown> {
  return sql`coalesce((SELECT sum(1 << (extract(day FROM d.day)::int - 1))::int FROM invoice_month_days d
                       WHERE d.tenant_id = ${tenant} AND d.day >= ${monthStart}
                         AND d.day < ${monthStart} + interval '1 month'), 0)`;
}
