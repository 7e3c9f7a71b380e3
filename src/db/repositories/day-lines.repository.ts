import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../database.ts';

// The rules "day snapshot" and "charge lines" of docs/billing.md as SQL: the production twins of
// `daySnapshot` (src/domain/day-snapshot.ts) and `chargeLinesForDay` (src/domain/charge-lines.ts),
// kept equal by test/integration/bill-day-differential.test.ts. Change both at once.

/**
 * What the set-based computation of one tenant-day needs. Instants are the day's bounds in the
 * tenant's time zone (`dayBounds`); `dayOfMonth`/`monthLength` are d and n of the proration
 * formula; `priceBookId` is the book in force (`priceBookInForce`), null when there is none.
 */
export interface DayLinesParams {
  tenantId: string;
  day: string;
  start: Date;
  end: Date;
  dayOfMonth: number;
  monthLength: number;
}

/**
 * The billed items of a tenant-day, one row per (user, item): columns user_id, item, billing and
 * name (the price item: a license or `recording`). The SQL twin of `daySnapshot` +
 * `chargeLinesForDay` without prices (test/integration/bill-day-differential.test.ts checks that
 * they agree): only ACTIVE versions in force at some moment of [start, end) count; the license is
 * the highest of them, the billing mode that of the latest version holding it, the recording
 * add-on when that license is standard/professional and any of them records calls; daily users
 * without a daily_activity row get nothing.
 *
 * Written so that PostgreSQL never sorts: versions are read in (user_id, effective_at) order
 * from the primary key index; one window pass in that order gives each version its successor
 * (`lead`) and its position `n`; one GroupAggregate per user then picks the snapshot with
 * `max(key)`, where key packs (license rank, n, daily?) into one bigint with integer arithmetic
 * only: the highest license, and among its versions the latest, whose billing is the low bit.
 */
export function dayItemsSql(p: DayLinesParams): RawBuilder<unknown> {
  return sql`
    WITH v AS (
      SELECT user_id, active, license, billing, record_calls,
             lead(effective_at) OVER w AS next_at,
             row_number() OVER w AS n
      FROM settings_versions
      WHERE tenant_id = ${p.tenantId}::text AND effective_at < ${p.end.toISOString()}::timestamptz
      WINDOW w AS (PARTITION BY user_id ORDER BY effective_at)
    ),
    snap AS (
      SELECT user_id,
             max((CASE license WHEN 'dashboard' THEN 0 WHEN 'standard' THEN 1 WHEN 'professional' THEN 2
                               WHEN 'enterprise' THEN 3 ELSE 4 END)::bigint * 4294967296
                 + n * 2 + (billing = 'daily')::int) AS key,
             bool_or(record_calls) AS any_recording
      FROM v
      WHERE active AND (next_at IS NULL OR next_at > ${p.start.toISOString()}::timestamptz)
      GROUP BY user_id
    ),
    snapshot AS (
      SELECT user_id,
             (ARRAY['dashboard', 'standard', 'professional', 'enterprise', 'developer'])[1 + key / 4294967296] AS license,
             CASE WHEN key % 2 = 1 THEN 'daily' ELSE 'monthly' END AS billing,
             any_recording AND key / 4294967296 IN (1, 2) AS recording
      FROM snap
    )
    SELECT s.user_id, x.item, s.billing, x.name
    FROM snapshot s
    CROSS JOIN LATERAL (VALUES (('license.' || s.license) COLLATE "C", s.license),
                               ('addon.recording' COLLATE "C", 'recording')) AS x(item, name)
    WHERE (x.name <> 'recording' OR s.recording)
      AND (s.billing = 'monthly'
           OR EXISTS (SELECT 1 FROM daily_activity a
                      WHERE a.tenant_id = ${p.tenantId}::text AND a.day = ${p.day}::date AND a.user_id = s.user_id))
  `;
}

/**
 * The charge lines of a tenant-day with the prices of book `priceBookId`: columns user_id, item,
 * billing, amount, unit_price (minor units, bigint). Monthly: amount = floor(P*d/n) -
 * floor(P*(d-1)/n), computed in bigint (integer division truncates = floor for P >= 0); daily:
 * amount = the daily price. Zero amounts are kept. No book (null): no rows (the caller has
 * checked with `firstNeededItem` that the day needs no price).
 */
export function dayLinesSql(p: DayLinesParams, priceBookId: string | null): RawBuilder<unknown> {
  const d = p.dayOfMonth;
  const n = p.monthLength;
  return sql`
    SELECT user_id, item, billing,
           CASE WHEN billing = 'monthly'
                THEN unit_price * ${d}::bigint / ${n}::bigint - unit_price * ${d - 1}::bigint / ${n}::bigint
                ELSE unit_price END AS amount,
           unit_price
    FROM (
      SELECT i.user_id, i.item, i.billing,
             CASE WHEN i.billing = 'monthly' THEN
                    CASE i.name WHEN 'dashboard' THEN pb.monthly_dashboard WHEN 'standard' THEN pb.monthly_standard
                                WHEN 'professional' THEN pb.monthly_professional WHEN 'enterprise' THEN pb.monthly_enterprise
                                WHEN 'developer' THEN pb.monthly_developer WHEN 'recording' THEN pb.monthly_recording END
                  ELSE
                    CASE i.name WHEN 'professional' THEN pb.daily_professional WHEN 'enterprise' THEN pb.daily_enterprise
                                WHEN 'recording' THEN pb.daily_recording END
             END AS unit_price
      FROM (${dayItemsSql(p)}) i
      CROSS JOIN price_books pb
      WHERE pb.id = ${priceBookId}::bigint
    ) priced
  `;
}

/** The first item (in user, item order) the day needs: names the item a missing book leaves unpriced. */
export async function firstNeededItem(
  db: Db,
  p: DayLinesParams,
): Promise<{ userId: string; item: string; billing: string } | undefined> {
  const { rows } = await sql<{ user_id: string; item: string; billing: string }>`
    SELECT user_id, item, billing FROM (${dayItemsSql(p)}) i ORDER BY user_id, item LIMIT 1
  `.execute(db);
  const r = rows[0];
  return r ? { userId: r.user_id, item: r.item, billing: r.billing } : undefined;
}

/** The instant of the tenant's earliest settings version (active or not); undefined without versions. */
export async function firstVersionInstant(db: Db, tenantId: string): Promise<Date | undefined> {
  const row = await db
    .selectFrom('settings_versions')
    .select((eb) => eb.fn.min('effective_at').as('first'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row?.first ?? undefined;
}
