import { sql } from 'kysely';
import { dayRange } from '../../domain/calendar.ts';
import type { Revision } from '../../domain/run.ts';
import type { Db } from '../database.ts';
import { dayRevisionsWithin } from './day-revision.repository.ts';
import type { TenantDays } from './tenant-days.ts';

// Users with activity per tenant-day, kept as one row per tenant-day (`day_activity_counts`,
// migration 0007) so that reconcile and the console read O(days) rows, not O(users x days).

/**
 * Counts the users with activity on a tenant-day and records the count at `revision`, the day
 * revision the caller read BEFORE this count (billing: in the run's transaction, right after
 * `readDayRevision`). ONE statement; an older count never overwrites a newer one.
 *
 * Why a count at revision R stays true while the day's revision is <= R: every write of
 * `daily_activity` marks its day in the same transaction with a higher revision, and a mark is
 * pruned only after a run read it (and that run recorded a new count).
 */
export async function recordDayActivityCount(
  trx: Db,
  tenantId: string,
  day: string,
  revision: Revision,
): Promise<void> {
  await sql`
    INSERT INTO day_activity_counts AS c (tenant_id, day, revision, active_users)
    SELECT ${tenantId}::text, ${day}::date, ${revision}::bigint, count(*)
    FROM daily_activity WHERE tenant_id = ${tenantId}::text AND day = ${day}::date
    ON CONFLICT (tenant_id, day) DO UPDATE
      SET revision = excluded.revision, active_users = excluded.active_users, counted_at = now()
      WHERE excluded.revision >= c.revision
  `.execute(trx);
}

/**
 * Users with activity per tenant-day of `tenantIds` in days `from`..`to` (days without any are
 * absent). The recorded count where it is still true (its revision >= the day's revision, see
 * `recordDayActivityCount`); for the other days (never counted, or changed since their run:
 * today, late data) a count of `daily_activity` for those days alone. A month of billed days
 * costs O(days) rows. Two statements, so that the planner costs only the days really counted
 * (one statement with a correlated count per day is costed as if every day were counted, which
 * makes PostgreSQL JIT-compile a query that then reads a few dozen rows).
 */
export async function countActiveUsers(
  db: Db,
  days: TenantDays,
): Promise<Array<{ tenantId: string; day: string; users: number }>> {
  const dates = dayRange(days.from, days.to);
  const { rows } = await sql<{ tenant_id: string; day: string; users: number | null }>`
    SELECT t.tenant_id, d.day,
           CASE WHEN c.revision >= coalesce(r.revision, 0) THEN c.active_users END AS users
    FROM unnest(${[...days.tenantIds]}::text[]) AS t(tenant_id)
    CROSS JOIN unnest(${dates}::date[]) AS d(day)
    LEFT JOIN day_activity_counts c ON c.tenant_id = t.tenant_id AND c.day = d.day
    LEFT JOIN (${dayRevisionsWithin(days)}) r ON r.tenant_id = t.tenant_id AND r.day = d.day
  `.execute(db);
  const recount = rows.filter((r) => r.users === null);
  const counted =
    recount.length === 0
      ? []
      : (
          await sql<{ tenant_id: string; day: string; users: string }>`
            SELECT x.tenant_id, x.day,
                   (SELECT count(*) FROM daily_activity a WHERE a.tenant_id = x.tenant_id AND a.day = x.day)::text AS users
            FROM unnest(${recount.map((r) => r.tenant_id)}::text[], ${recount.map((r) => r.day)}::date[]) AS x(tenant_id, day)
          `.execute(db)
        ).rows;
  return [...rows, ...counted]
    .map((r) => ({ tenantId: r.tenant_id, day: r.day, users: Number(r.users) }))
    .filter((r) => r.users > 0);
}

/** `recordDayActivityCount` for many tenant-days (distinct) in ONE statement. */
export async function recordDayActivityCounts(
  trx: Db,
  days: readonly { tenantId: string; day: string; revision: Revision }[],
): Promise<void> {
  if (days.length === 0) return;
  await sql`
    INSERT INTO day_activity_counts AS c (tenant_id, day, revision, active_users)
    SELECT x.t, x.d, x.r,
           (SELECT count(*) FROM daily_activity a WHERE a.tenant_id = x.t AND a.day = x.d)
    FROM unnest(${days.map((d) => d.tenantId)}::text[], ${days.map((d) => d.day)}::date[],
                ${days.map((d) => d.revision)}::bigint[]) AS x(t, d, r)
    ON CONFLICT (tenant_id, day) DO UPDATE
      SET revision = excluded.revision, active_users = excluded.active_users, counted_at = now()
      WHERE excluded.revision >= c.revision
  `.execute(trx);
}
