import { sql } from 'kysely';
import type { Db } from '../database.ts';

/** A tenant with the instant of its earliest settings version (active or not); null when it has none. */
export interface TenantHistoryStart {
  tenantId: string;
  timezone: string;
  cutoffHour: number;
  firstEffectiveAt: Date | null;
}

/** The inclusive range of billable days to look at for one tenant (tenant-local dates). */
export interface TenantDayRange {
  tenantId: string;
  firstDay: string;
  lastDay: string;
}

export interface MissingDayRow {
  tenantId: string;
  day: string;
}

export interface LateDayRow {
  tenantId: string;
  day: string;
  /** The day's revision now (above the input revision of its latest run). */
  revision: number;
}

/** Every tenant with its earliest settings version: one grouped query over the (tenant_id, effective_at) index. */
export async function listTenantHistoryStarts(db: Db): Promise<TenantHistoryStart[]> {
  const rows = await db
    .selectFrom('tenants as t')
    .leftJoin('settings_versions as v', 'v.tenant_id', 't.id')
    .select([
      't.id',
      't.timezone',
      't.cutoff_hour',
      (eb) => eb.fn.min('v.effective_at').as('first_effective_at'),
    ])
    .groupBy(['t.id', 't.timezone', 't.cutoff_hour'])
    .orderBy('t.id')
    .execute();
  return rows.map((r) => ({
    tenantId: r.id,
    timezone: r.timezone,
    cutoffHour: r.cutoff_hour,
    firstEffectiveAt: r.first_effective_at === null ? null : new Date(r.first_effective_at as Date | string),
  }));
}

function rangeArrays(ranges: readonly TenantDayRange[]) {
  return {
    tenants: ranges.map((r) => r.tenantId),
    firsts: ranges.map((r) => r.firstDay),
    lasts: ranges.map((r) => r.lastDay),
  };
}

/**
 * The days of each range that have no current run, ordered by tenant then day (oldest first).
 * One statement for all tenants: the ranges come in as arrays, the days are generated in SQL
 * and anti-joined with the partial unique index on current runs.
 */
export async function findDaysWithoutCurrentRun(
  db: Db,
  ranges: readonly TenantDayRange[],
): Promise<MissingDayRow[]> {
  if (ranges.length === 0) return [];
  const { tenants, firsts, lasts } = rangeArrays(ranges);
  const result = await sql<{ tenant_id: string; day: string }>`
    SELECT b.tenant_id, g.day::date AS day
    FROM unnest(${tenants}::text[], ${firsts}::date[], ${lasts}::date[]) AS b(tenant_id, first_day, last_day)
    CROSS JOIN LATERAL generate_series(b.first_day, b.last_day, interval '1 day') AS g(day)
    WHERE NOT EXISTS (
      SELECT 1 FROM runs r
      WHERE r.tenant_id = b.tenant_id AND r.day = g.day::date AND r.is_current
    )
    ORDER BY b.tenant_id COLLATE "C", g.day
  `.execute(db);
  return result.rows.map((r) => ({ tenantId: r.tenant_id, day: r.day }));
}

/**
 * Days of each range whose revision is above the input revision of the day's latest run
 * (max(id) among the current run and adjustment runs): their input changed after that run read
 * it. Days without a current run are left out (they are due anyway). Ordered by tenant, day.
 */
export async function findDaysWithLateData(db: Db, ranges: readonly TenantDayRange[]): Promise<LateDayRow[]> {
  if (ranges.length === 0) return [];
  const { tenants, firsts, lasts } = rangeArrays(ranges);
  const result = await sql<{ tenant_id: string; day: string; revision: string }>`
    SELECT dr.tenant_id, dr.day, dr.revision
    FROM unnest(${tenants}::text[], ${firsts}::date[], ${lasts}::date[]) AS b(tenant_id, first_day, last_day)
    JOIN day_revisions dr
      ON dr.tenant_id = b.tenant_id AND dr.day BETWEEN b.first_day AND b.last_day
    JOIN LATERAL (
      SELECT r.input_revision
      FROM runs r
      WHERE r.tenant_id = dr.tenant_id AND r.day = dr.day AND (r.is_current OR r.kind = 'adjustment')
      ORDER BY r.id DESC
      LIMIT 1
    ) latest ON true
    WHERE dr.revision > latest.input_revision
      AND EXISTS (SELECT 1 FROM runs c WHERE c.tenant_id = dr.tenant_id AND c.day = dr.day AND c.is_current)
    ORDER BY dr.tenant_id COLLATE "C", dr.day
  `.execute(db);
  return result.rows.map((r) => ({ tenantId: r.tenant_id, day: r.day, revision: Number(r.revision) }));
}

/**
 * The input revision read by the tenant-day's latest run (current or adjustment), or null when
 * the day has no run. Used to tell whether a queued late-data job has been overtaken.
 */
export async function latestRunRevision(db: Db, tenantId: string, day: string): Promise<number | null> {
  const row = await db
    .selectFrom('runs')
    .select('input_revision')
    .where('tenant_id', '=', tenantId)
    .where('day', '=', day)
    .where((eb) => eb.or([eb('is_current', '=', true), eb('kind', '=', 'adjustment')]))
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row ? Number(row.input_revision) : null;
}
