import { sql } from 'kysely';
import type { Revision } from '../../domain/run.ts';
import type { Db } from '../database.ts';
import { toRevision } from './day-revision.repository.ts';

/**
 * A tenant with what bounds its billable days: the instant of its earliest settings version
 * (active or not; null without versions) and the first day a price book applies to it (its own
 * or a default book; null without any book).
 */
export interface TenantPlanStart {
  tenantId: string;
  timezone: string;
  cutoffHour: number;
  firstEffectiveAt: Date | null;
  firstBookDay: string | null;
}

/** The inclusive range of days to plan for one tenant (tenant-local dates, `firstDay <= lastDay`). */
export interface PlanRange {
  tenantId: string;
  firstDay: string;
  lastDay: string;
}

/** A position in the plan order (rank of the day within its tenant, then tenant). */
export interface DueCursor {
  rank: number;
  tenantId: string;
}

export interface DueDayRow {
  tenantId: string;
  day: string;
  /** Set for a day with a current run whose revision is above its latest run's (late data). */
  revision: Revision | null;
  /** The day's place among its tenant's due days, oldest first (1 = oldest). */
  rank: number;
}

/**
 * Every tenant with its earliest settings version and the first day a price book applies to it:
 * one grouped query (the (tenant_id, effective_at) index), books by a correlated min.
 */
export async function listTenantPlanStarts(db: Db): Promise<TenantPlanStart[]> {
  const { rows } = await sql<{
    id: string;
    timezone: string;
    cutoff_hour: number;
    first_effective_at: Date | string | null;
    first_book_day: string | null;
  }>`
    SELECT t.id, t.timezone, t.cutoff_hour,
           (SELECT min(v.effective_at) FROM settings_versions v WHERE v.tenant_id = t.id) AS first_effective_at,
           (SELECT min(p.valid_from) FROM price_books p WHERE p.tenant_id = t.id OR p.tenant_id IS NULL)
             AS first_book_day
    FROM tenants t
    ORDER BY t.id
  `.execute(db);
  return rows.map((r) => ({
    tenantId: r.id,
    timezone: r.timezone,
    cutoffHour: r.cutoff_hour,
    firstEffectiveAt: r.first_effective_at === null ? null : new Date(r.first_effective_at),
    firstBookDay: r.first_book_day,
  }));
}

/**
 * JIT off for the rest of the transaction. The planner's statements are costed far above what
 * they do (each gap's generate_series is guessed at 1,000 days), so PostgreSQL JIT-compiled
 * them: 3.6 s of compiling for 0.13 s of work per page of 1,000 at 10,000 tenants, which made
 * a plan of 10,000 days take a minute and starved the workers.
 */
export async function planWithoutJit(trx: Db): Promise<void> {
  await sql`SET LOCAL jit = off`.execute(trx);
}

function rangeArrays(ranges: readonly PlanRange[]) {
  return {
    tenants: ranges.map((r) => r.tenantId),
    firsts: ranges.map((r) => r.firstDay),
    lasts: ranges.map((r) => r.lastDay),
  };
}

/**
 * Rule "what is due" (`docs/billing.md`, Runs; `docs/jobs.md`, the planner), one page of it in ONE
 * statement, never one row per day of history:
 * - missing days: the days of each range without a current run. They are found as the GAPS
 *   between the current runs in the range (a window over the runs' partial unique index), and
 *   each gap is expanded to at most `depth` days, so a range going back 700,000 days costs what
 *   one going back a week does;
 * - late days: days with a current run whose revision (the highest revision of the day marks
 *   covering it) is above the input revision of the day's latest run (max id among the current
 *   and the adjustment runs). Marks are ranges: each one is joined to the current runs it covers.
 * Each tenant's due days are ranked oldest first; the page is ordered by (rank, tenant) — every
 * tenant's oldest due day, then every tenant's second, … — so one tenant's backlog never holds
 * back another's nightly day. Keyset: rows after `after`, at most `limit`.
 */
export async function findDueDayPage(
  db: Db,
  ranges: readonly PlanRange[],
  page: { after: DueCursor | null; limit: number },
): Promise<DueDayRow[]> {
  if (ranges.length === 0 || page.limit <= 0) return [];
  const { tenants, firsts, lasts } = rangeArrays(ranges);
  const afterRank = page.after?.rank ?? 0;
  const afterTenant = page.after?.tenantId ?? '';
  // No row of rank above `depth` can be on this page.
  const depth = afterRank + page.limit;
  const { rows } = await sql<{ tenant_id: string; day: string; revision: string | null; rank: string }>`
    WITH b AS (
      SELECT * FROM unnest(${tenants}::text[], ${firsts}::date[], ${lasts}::date[])
        AS b(tenant_id, first_day, last_day)
    ),
    billed AS (
      SELECT b.tenant_id, r.day, b.first_day
      FROM b JOIN runs r
        ON r.tenant_id = b.tenant_id AND r.is_current AND r.day BETWEEN b.first_day AND b.last_day
    ),
    -- Each tenant's last billed day, grouped once: a subquery per tenant over the CTE would scan
    -- all of it for each tenant (tenants x billed days), and a night's planning pages, run while
    -- its days are being billed, grew slower with every day billed.
    last_billed AS (
      SELECT tenant_id, max(day) AS day FROM billed GROUP BY tenant_id
    ),
    gaps AS (
      SELECT tenant_id,
             coalesce(lag(day) OVER (PARTITION BY tenant_id ORDER BY day) + 1, first_day) AS gap_from,
             day - 1 AS gap_to
      FROM billed
      UNION ALL
      SELECT b.tenant_id, coalesce(lb.day + 1, b.first_day), b.last_day
      FROM b LEFT JOIN last_billed lb ON lb.tenant_id = b.tenant_id
    ),
    missing AS (
      SELECT g.tenant_id, g.gap_from + i AS day, NULL::bigint AS revision
      FROM gaps g
      CROSS JOIN LATERAL generate_series(0, least(g.gap_to - g.gap_from, ${depth}::int - 1)) AS i
      WHERE g.gap_from <= g.gap_to
    ),
    marked AS (
      SELECT r.tenant_id, r.day, max(m.revision) AS revision
      FROM day_marks m
      JOIN billed r ON r.tenant_id = m.tenant_id AND r.day BETWEEN m.from_day AND m.to_day
      GROUP BY r.tenant_id, r.day
    ),
    late AS (
      SELECT k.tenant_id, k.day, k.revision
      FROM marked k
      WHERE k.revision > (
        SELECT x.input_revision FROM runs x
        WHERE x.tenant_id = k.tenant_id AND x.day = k.day AND (x.is_current OR x.kind = 'adjustment')
        ORDER BY x.id DESC
        LIMIT 1
      )
    ),
    ranked AS (
      SELECT u.tenant_id, u.day, u.revision,
             row_number() OVER (PARTITION BY u.tenant_id ORDER BY u.day) AS rank
      FROM (SELECT * FROM missing UNION ALL SELECT * FROM late) u
    )
    SELECT tenant_id, day, revision, rank
    FROM ranked
    WHERE rank <= ${depth}::int
      AND (rank, tenant_id) > (${afterRank}::int, ${afterTenant}::text COLLATE "C")
    ORDER BY rank, tenant_id COLLATE "C"
    LIMIT ${page.limit}::int
  `.execute(db);
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    day: r.day,
    revision: r.revision === null ? null : toRevision(r.revision),
    rank: Number(r.rank),
  }));
}

/**
 * Rule "billing lag" (`jobs.md`), per tenant in ONE aggregate statement: the days from the
 * oldest day of its range without a current run to the last day of its range, both included;
 * 0 when every day has a current run. The oldest missing day is the range's first day when that
 * has no run, else the day after the first current run whose successor day has none (a window
 * over the current runs): the work follows the runs, never the length of the range.
 */
export async function lagDays(
  db: Db,
  ranges: readonly PlanRange[],
): Promise<{ tenantId: string; days: number }[]> {
  if (ranges.length === 0) return [];
  const { tenants, firsts, lasts } = rangeArrays(ranges);
  const { rows } = await sql<{ tenant_id: string; days: number }>`
    SELECT b.tenant_id,
           coalesce(b.last_day - o.oldest + 1, 0)::int AS days
    FROM unnest(${tenants}::text[], ${firsts}::date[], ${lasts}::date[]) AS b(tenant_id, first_day, last_day)
    CROSS JOIN LATERAL (
      SELECT CASE
        WHEN NOT EXISTS (
          SELECT 1 FROM runs r WHERE r.tenant_id = b.tenant_id AND r.is_current AND r.day = b.first_day
        ) THEN b.first_day
        ELSE (
          SELECT min(x.day) + 1
          FROM (
            SELECT r.day, lead(r.day) OVER (ORDER BY r.day) AS next
            FROM runs r
            WHERE r.tenant_id = b.tenant_id AND r.is_current AND r.day BETWEEN b.first_day AND b.last_day
          ) x
          WHERE x.day < b.last_day AND (x.next IS NULL OR x.next <> x.day + 1)
        )
      END AS oldest
    ) o
    ORDER BY b.tenant_id COLLATE "C"
  `.execute(db);
  return rows.map((r) => ({ tenantId: r.tenant_id, days: Number(r.days) }));
}
