import { sql } from 'kysely';
import { parseMinor } from '../../domain/money.ts';
import type { Revision } from '../../domain/run.ts';
import type { Db } from '../database.ts';
import { dayRevisionsWithin, toRevision } from './day-revision.repository.ts';
import { inTenantDays, type TenantDays } from './tenant-days.ts';

export interface DayRunState {
  tenantId: string;
  day: string;
  /** The current run, if any. */
  currentRunId: string | null;
  lineCount: number;
  total: number;
  /** Highest input revision any run of the day (charge or adjustment) read; null without runs. */
  maxRunRevision: Revision | null;
  /** When the latest run of the day finished; null without runs. */
  lastRunAt: Date | null;
  /** The day's input revision (0 when never marked). */
  revision: Revision;
}

/**
 * Per tenant-day with a run or a revision, in days `from`..`to`: the current run's counts, what
 * the runs read and the day's revision: everything the run status needs, in one statement.
 */
export async function listDayRunStates(db: Db, days: TenantDays): Promise<DayRunState[]> {
  const { rows } = await sql<{
    tenant_id: string;
    day: string;
    current_id: string | null;
    line_count: number | null;
    total: string | null;
    max_rev: string | null;
    last_at: Date | null;
    revision: string | null;
  }>`
    WITH r AS (
      SELECT tenant_id, day,
             max(id) FILTER (WHERE is_current)::text AS current_id,
             max(line_count) FILTER (WHERE is_current) AS line_count,
             max(total) FILTER (WHERE is_current)::text AS total,
             max(input_revision)::text AS max_rev,
             max(finished_at) AS last_at
      FROM runs
      WHERE ${inTenantDays(days)}
      GROUP BY tenant_id, day
    )
    SELECT coalesce(r.tenant_id, d.tenant_id) AS tenant_id, coalesce(r.day, d.day) AS day,
           r.current_id, r.line_count, r.total, r.max_rev, r.last_at, d.revision::text AS revision
    FROM r
    FULL JOIN (${dayRevisionsWithin(days)}) d ON d.tenant_id = r.tenant_id AND d.day = r.day
  `.execute(db);
  return rows.map((x) => ({
    tenantId: x.tenant_id,
    day: x.day,
    currentRunId: x.current_id,
    lineCount: x.line_count ?? 0,
    total: x.total === null ? 0 : parseMinor(x.total),
    maxRunRevision: x.max_rev === null ? null : toRevision(x.max_rev),
    lastRunAt: x.last_at,
    revision: toRevision(x.revision),
  }));
}

/**
 * Open (unresolved) rejects per (tenant, day) attributed to days `from`..`to` (the day stored
 * with each reject: `insertIngestRejects`, migration 0011): one range of the partial index
 * `ingest_rejects_open_day` per tenant, read index-only.
 */
export async function countOpenRejectsByDay(
  db: Db,
  days: TenantDays,
): Promise<Array<{ tenantId: string; day: string; open: number }>> {
  const { rows } = await sql<{ tenant_id: string; day: string; n: string }>`
    SELECT tenant_id, day, count(*)::text AS n FROM ingest_rejects
    WHERE ${inTenantDays(days)} AND resolved_at IS NULL AND day IS NOT NULL
    GROUP BY tenant_id, day
  `.execute(db);
  return rows.map((r) => ({ tenantId: r.tenant_id, day: r.day, open: Number(r.n) }));
}

/**
 * Open rejects attributed to no day (no tenant, no readable instant) received in [start, end):
 * of `tenantId`, or of every tenant and none when undefined (partial index
 * `ingest_rejects_open_unattributed`).
 */
export async function countUnattributedOpenRejects(
  db: Db,
  tenantId: string | undefined,
  start: Date,
  end: Date,
): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    SELECT count(*)::text AS n FROM ingest_rejects
    WHERE resolved_at IS NULL AND day IS NULL
      AND received_at >= ${start}::timestamptz AND received_at < ${end}::timestamptz
      ${tenantId === undefined ? sql`` : sql`AND tenant_id = ${tenantId}`}
  `.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/**
 * The instant of each tenant's earliest settings version (its first day, in its zone); tenants
 * without a version are absent. One index probe of `settings_versions (tenant_id, effective_at)`
 * per tenant.
 */
export async function firstVersionInstants(db: Db, tenantIds: readonly string[]): Promise<Map<string, Date>> {
  const { rows } = await sql<{ tenant_id: string; first: Date | null }>`
    SELECT t.tenant_id,
           (SELECT min(s.effective_at) FROM settings_versions s WHERE s.tenant_id = t.tenant_id) AS first
    FROM unnest(${[...tenantIds]}::text[]) AS t(tenant_id)
  `.execute(db);
  return new Map(rows.filter((r) => r.first !== null).map((r) => [r.tenant_id, r.first as Date]));
}

/**
 * Turns JIT compilation off for the rest of transaction `trx`. Reconcile's statements read a few
 * rows per day, but the planner costs a per-day count of `daily_activity` at the table's average
 * day (half a million keys at 1M users), so PostgreSQL would JIT-compile them: 0.5–1.5 s of
 * compilation to read a few dozen rows (EXPLAIN at 1M users).
 */
export async function withoutJit(trx: Db): Promise<void> {
  await sql`SET LOCAL jit = off`.execute(trx);
}
