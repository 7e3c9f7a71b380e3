import { type RawBuilder, sql } from 'kysely';
import {
  daysToRanges,
  mergeDayRanges,
  type TenantDay,
  type TenantDayRange,
} from '../../domain/day-ranges.ts';
import type { Revision } from '../../domain/run.ts';
import type { Db } from '../database.ts';
import type { TenantDays } from './tenant-days.ts';

export type { TenantDay, TenantDayRange };

/**
 * Day revisions, in one place and one type (`docs/billing.md`, "Day marks").
 *
 * A change of a tenant's input (late activity, a settings version) writes a MARK: a range of
 * tenant-days `(from_day, to_day)` with a revision taken from the tenant's counter
 * (`day_mark_clocks`). The revision of a day is the highest revision of the marks covering it,
 * 0 when none. A run records the revision of its day that it read BEFORE reading the data
 * (`runs.input_revision`); a day is due for re-billing when its revision is above the one its
 * latest run (current or adjustment) read.
 *
 * A revision (`Revision`, domain/run.ts) is a per-tenant counter, a safe integer (checked when read).
 */

/** int8 from pg (a string) to a Revision; refuses anything but a non-negative safe integer. */
export function toRevision(value: string | number | bigint | null | undefined): Revision {
  if (value === null || value === undefined) return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid day revision ${String(value)}`);
  return n;
}

/**
 * Marks ranges of tenant-days as changed, in ONE statement whatever the ranges cover: a version
 * back-dated by ten years writes one row, like one back-dated by a day. Per tenant, the
 * transaction takes the next value of the tenant's counter (the row stays locked until commit,
 * tenants locked in code-point order so concurrent batches never deadlock): a later commit always
 * carries a higher revision, so a change committed while a run is in flight is never missed.
 * Overlapping and adjacent ranges of one call are merged first (they share the revision). A
 * range marked again keeps one row with the new revision. Call it last in the transaction: the
 * counter row is held until commit.
 */
export async function markDayRanges(db: Db, ranges: readonly TenantDayRange[]): Promise<void> {
  await markDayRangesStatement(ranges)?.execute(db);
}

/** `markDayRanges`' statement (a script inlines its parameters), undefined when there is nothing to mark. */
export function markDayRangesStatement(ranges: readonly TenantDayRange[]): RawBuilder<unknown> | undefined {
  const merged = mergeDayRanges(ranges);
  if (merged.length === 0) return undefined;
  const tenants = [...new Set(merged.map((r) => r.tenantId))];
  return sql`
    WITH clock AS (
      INSERT INTO day_mark_clocks AS c (tenant_id, revision)
      SELECT t, 1 FROM unnest(${tenants}::text[]) AS t ORDER BY t COLLATE "C"
      ON CONFLICT (tenant_id) DO UPDATE SET revision = c.revision + 1
      RETURNING c.tenant_id, c.revision
    )
    INSERT INTO day_marks AS m (tenant_id, from_day, to_day, revision)
    SELECT x.t, x.f, x.l, clock.revision
    FROM unnest(
      ${merged.map((r) => r.tenantId)}::text[],
      ${merged.map((r) => r.from)}::date[],
      ${merged.map((r) => r.to)}::date[]
    ) AS x(t, f, l)
    JOIN clock ON clock.tenant_id = x.t
    ON CONFLICT (tenant_id, from_day, to_day)
    DO UPDATE SET revision = greatest(m.revision, excluded.revision), marked_at = now()
  `;
}

/** Marks single tenant-days (consecutive days of a tenant become one range). */
export async function bumpDayRevisions(db: Db, days: readonly TenantDay[]): Promise<void> {
  await markDayRanges(db, daysToRanges(days));
}

/** The day's revision: the highest revision of the marks covering it, 0 when none. Read BEFORE the data a run uses. */
export async function readDayRevision(db: Db, tenantId: string, day: string): Promise<Revision> {
  const row = await db
    .selectFrom('day_marks')
    .select((eb) => eb.fn.max('revision').as('rev'))
    .where('tenant_id', '=', tenantId)
    .where('from_day', '<=', day)
    .where('to_day', '>=', day)
    .executeTakeFirst();
  return toRevision(row?.rev);
}

/**
 * The input revision read by the tenant-day's latest run (max id among the current run and the
 * adjustment runs), or null when the day has no such run: what "is this day due again?" compares.
 */
export async function latestRunRevision(db: Db, tenantId: string, day: string): Promise<Revision | null> {
  const row = await db
    .selectFrom('runs')
    .select('input_revision')
    .where('tenant_id', '=', tenantId)
    .where('day', '=', day)
    .where((eb) => eb.or([eb('is_current', '=', true), eb('kind', '=', 'adjustment')]))
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? toRevision(row.input_revision) : null;
}

/** The highest input revision any run (charge or adjustment) of the tenant-day recorded; 0 without runs. */
export async function maxRunRevision(db: Db, tenantId: string, day: string): Promise<Revision> {
  const row = await db
    .selectFrom('runs')
    .select((eb) => eb.fn.max('input_revision').as('rev'))
    .where('tenant_id', '=', tenantId)
    .where('day', '=', day)
    .executeTakeFirst();
  return toRevision(row?.rev);
}

/**
 * Deletes the marks that can no longer make a day due: every day of the mark that has a current
 * run was re-billed at or above the mark's revision by its latest run (days without a current
 * run are due anyway and read whatever revision is there when billed). Keeps the table at the
 * size of the unfinished work, so the planner's late-data join stays small. Safe at any time:
 * a new mark always takes a higher revision than any deleted one. Returns the count deleted.
 */
export async function pruneConsumedMarks(db: Db): Promise<number> {
  // SKIP LOCKED: a mark a marking transaction holds is left for the next plan, so pruning never
  // waits on ingest (and the two can never deadlock).
  const result = await sql`
    DELETE FROM day_marks d
    USING (
      SELECT m.tenant_id, m.from_day, m.to_day
      FROM day_marks m
      WHERE NOT EXISTS (
        SELECT 1 FROM runs r
        WHERE r.tenant_id = m.tenant_id AND r.is_current AND r.day BETWEEN m.from_day AND m.to_day
          AND m.revision > (
            SELECT x.input_revision FROM runs x
            WHERE x.tenant_id = r.tenant_id AND x.day = r.day AND (x.is_current OR x.kind = 'adjustment')
            ORDER BY x.id DESC
            LIMIT 1
          )
      )
      FOR UPDATE SKIP LOCKED
    ) consumed
    WHERE d.tenant_id = consumed.tenant_id AND d.from_day = consumed.from_day AND d.to_day = consumed.to_day
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * A subquery of (tenant_id, day, revision) for every marked day of `tenantIds` within
 * `from`..`to` (unmarked days are absent: revision 0). Only the marks overlapping the window are
 * expanded, and only over the window: a mark reaching back ten years costs a month of rows.
 */
export function dayRevisionsWithin({ tenantIds, from, to }: TenantDays): RawBuilder<unknown> {
  return sql`
    SELECT m.tenant_id, g.day::date AS day, max(m.revision) AS revision
    FROM day_marks m
    CROSS JOIN LATERAL generate_series(greatest(m.from_day, ${from}::date), least(m.to_day, ${to}::date),
      interval '1 day') AS g(day)
    WHERE m.tenant_id = ANY (${[...tenantIds]}::text[]) AND m.from_day <= ${to}::date AND m.to_day >= ${from}::date
    GROUP BY m.tenant_id, g.day
  `;
}
