import { sql } from 'kysely';
import { parseMinor } from '../../domain/money.ts';
import type { Revision } from '../../domain/run.ts';
import type { Db } from '../database.ts';
import { dayRevisionsWithin, toRevision } from './day-revision.repository.ts';

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
export async function listDayRunStates(
  db: Db,
  tenantIds: readonly string[],
  from: string,
  to: string,
): Promise<DayRunState[]> {
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
      WHERE tenant_id = ANY (${[...tenantIds]}::text[]) AND day BETWEEN ${from}::date AND ${to}::date
      GROUP BY tenant_id, day
    )
    SELECT coalesce(r.tenant_id, d.tenant_id) AS tenant_id, coalesce(r.day, d.day) AS day,
           r.current_id, r.line_count, r.total, r.max_rev, r.last_at, d.revision::text AS revision
    FROM r
    FULL JOIN (${dayRevisionsWithin(tenantIds, from, to)}) d ON d.tenant_id = r.tenant_id AND d.day = r.day
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

export interface OpenReject {
  tenantId: string | null;
  /** The start of the raw payload (enough to find its `occurredAt`). */
  rawHead: string;
  receivedAt: Date;
}

/**
 * Open (unresolved) rejects: of `tenantId`, or of every tenant and none when undefined. Only the
 * head of each payload is read: a reject may hold a whole body.
 */
export async function listOpenRejects(db: Db, tenantId: string | undefined): Promise<OpenReject[]> {
  let q = db
    .selectFrom('ingest_rejects')
    .select(['tenant_id', sql<string>`substring(raw for 2000)`.as('raw_head'), 'received_at'])
    .where('resolved_at', 'is', null);
  if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  const rows = await q.execute();
  return rows.map((r) => ({ tenantId: r.tenant_id, rawHead: r.raw_head, receivedAt: r.received_at }));
}
