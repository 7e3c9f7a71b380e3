import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../database.ts';
import { lineAmountSql } from './month-days.ts';

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
 * It reads `license_intervals` (migration 0008: runs of active versions with one state, kept by
 * the database), never the whole settings history, so a tenant with years of changes pays for
 * the day's users only:
 * - `whole`: users one interval holds for the whole day (valid_from <= start, valid_to >= end).
 *   That interval is then the only one touching the day, its state is the day's; no grouping.
 *   One range of the index (tenant_id, valid_to, user_id), read index-only: the intervals that
 *   reach past the day's end; with `keyOrder`, two: the open intervals (valid_to = infinity, in
 *   user order) first, then those closed since the day's end (few).
 *
 * With `keyOrder` (the insert of the lines, `insertDayLines`), rows come out (nearly all) in
 * `charge_lines` key order: users in order, within a user
 * `addon.recording` before `license.*` (byte order). The insert of a day's lines then appends
 * at the right edge of the primary key, as the bare floor does, instead of splitting pages all
 * over it: intervals written by an import lie in the heap in no useful order, and read as
 * stored they cost the insert a third more index and more CPU (docs/performance/billing.md).
 * Only speed depends on this order (nothing sorts: UNION ALL keeps its branches in turn), no
 * result does.
 * - `split`: users with a version inside the day (start < effectiveAt < end, the index
 *   (tenant_id, effective_at) of settings_versions): their intervals that touch the day without
 *   covering it, grouped per user (highest license, the latest interval holding it, any
 *   recording). A user is in one of the two at most: an interval covering the day leaves no
 *   other touching it.
 */
export function dayItemsSql(p: DayLinesParams, keyOrder = false): RawBuilder<unknown> {
  return dayItemsOf(dayTermsOf(p), keyOrder);
}

/**
 * The SQL terms a tenant-day's query reads: bound parameters of one day (`dayTermsOf`), or the
 * columns of a relation of many days (`insertDaysLines`, a lateral query per day). Each term is
 * written where the query uses it, so one day's statement is the same text with the same
 * parameters as when they were written inline.
 */
export interface DayTerms {
  tenantId: () => RawBuilder<unknown>;
  day: () => RawBuilder<unknown>;
  start: () => RawBuilder<unknown>;
  end: () => RawBuilder<unknown>;
  /** d and n of the proration formula, as bigint. */
  dayOfMonth: () => RawBuilder<unknown>;
  monthLength: () => RawBuilder<unknown>;
  priceBookId: () => RawBuilder<unknown>;
}

/** One tenant-day's terms as bound parameters. */
function dayTermsOf(p: DayLinesParams, priceBookId: string | null = null): DayTerms {
  const start = p.start.toISOString();
  const end = p.end.toISOString();
  return {
    tenantId: () => sql`${p.tenantId}::text`,
    day: () => sql`${p.day}::date`,
    start: () => sql`${start}::timestamptz`,
    end: () => sql`${end}::timestamptz`,
    dayOfMonth: () => sql`${p.dayOfMonth}::bigint`,
    monthLength: () => sql`${p.monthLength}::bigint`,
    priceBookId: () => sql`${priceBookId}::bigint`,
  };
}

/** `dayItemsSql` over any terms. */
export function dayItemsOf(t: DayTerms, keyOrder = false): RawBuilder<unknown> {
  const covering = sql`
      SELECT user_id, license, billing, record_calls AND license IN ('standard', 'professional') AS recording
      FROM license_intervals
      WHERE tenant_id = ${t.tenantId()} AND valid_from <= ${t.start()}`;
  // keyOrder: the open intervals in the index's order, then the others. A range on valid_to
  // (not =): with valid_to = 'infinity' the primary key gives user order as well, and the
  // planner took it (one heap visit a row). Only for the insert: a plain SELECT may be planned
  // in parallel, and then the planner sorts a sequential scan instead.
  const whole = keyOrder
    ? sql`(${covering} AND valid_to >= 'infinity'::timestamptz ORDER BY valid_to, user_id)
      UNION ALL
      ${covering} AND valid_to >= ${t.end()} AND valid_to < 'infinity'::timestamptz`
    : sql`${covering} AND valid_to >= ${t.end()}`;
  return sql`
    WITH whole AS (${whole}),
    changed AS (
      SELECT DISTINCT user_id FROM settings_versions
      WHERE tenant_id = ${t.tenantId()}
        AND effective_at > ${t.start()} AND effective_at < ${t.end()}
    ),
    split AS (
      SELECT user_id,
             (array_agg(license ORDER BY rank DESC, valid_from DESC))[1] AS license,
             (array_agg(billing ORDER BY rank DESC, valid_from DESC))[1] AS billing,
             bool_or(record_calls) AS any_recording
      FROM (
        SELECT li.user_id, li.license, li.billing, li.record_calls, li.valid_from,
               array_position(ARRAY['dashboard', 'standard', 'professional', 'enterprise', 'developer'], li.license) AS rank
        FROM changed c
        JOIN license_intervals li ON li.tenant_id = ${t.tenantId()} AND li.user_id = c.user_id
        WHERE li.valid_from < ${t.end()} AND li.valid_to > ${t.start()}
          AND (li.valid_from > ${t.start()} OR li.valid_to < ${t.end()})
      ) t
      GROUP BY user_id
    ),
    snapshot AS (
      SELECT user_id, license, billing, recording FROM whole
      UNION ALL
      SELECT user_id, license, billing, any_recording AND license IN ('standard', 'professional') FROM split
    )
    SELECT s.user_id, x.item, s.billing, x.name
    FROM snapshot s
    CROSS JOIN LATERAL (VALUES ('addon.recording' COLLATE "C", 'recording'),
                               (('license.' || s.license) COLLATE "C", s.license)) AS x(item, name)
    WHERE (x.name <> 'recording' OR s.recording)
      AND (s.billing = 'monthly'
           OR EXISTS (SELECT 1 FROM daily_activity a
                      WHERE a.tenant_id = ${t.tenantId()} AND a.day = ${t.day()} AND a.user_id = s.user_id))
  `;
}

/**
 * The charge lines of a tenant-day with the prices of book `priceBookId`: columns user_id, item,
 * billing, amount, unit_price (minor units, bigint). Monthly: amount = floor(P*d/n) -
 * floor(P*(d-1)/n), computed in bigint (integer division truncates = floor for P >= 0); daily:
 * amount = the daily price. Zero amounts are kept. No book (null): no rows (the caller has
 * checked with `firstNeededItem` that the day needs no price). `keyOrder`: see `dayItemsSql`.
 */
export function dayLinesSql(
  p: DayLinesParams,
  priceBookId: string | null,
  keyOrder = false,
): RawBuilder<unknown> {
  return dayLinesOf(dayTermsOf(p, priceBookId), keyOrder);
}

/** `dayLinesSql` over any terms (the book is `t.priceBookId`). */
export function dayLinesOf(t: DayTerms, keyOrder = false): RawBuilder<unknown> {
  return sql`
    SELECT user_id, item, billing,
           ${lineAmountSql(sql`billing`, sql`unit_price`, t.dayOfMonth(), t.monthLength())} AS amount,
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
      FROM (${dayItemsOf(t, keyOrder)}) i
      CROSS JOIN price_books pb
      WHERE pb.id = ${t.priceBookId()}
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
