import { type Selectable, sql } from 'kysely';
import { type Minor, parseMinor } from '../../domain/money.ts';
import type { Revision, Run, RunTrigger } from '../../domain/run.ts';
import type { Db, RunsTable } from '../database.ts';
import { lockPairsInOrder } from './advisory-locks.ts';
import { toRevision } from './day-revision.repository.ts';

export interface NewRun {
  tenantId: string;
  day: string;
  kind: 'charge' | 'adjustment';
  trigger: RunTrigger;
  inputRevision: Revision;
  currency: string;
  jobId: string | null;
}

/**
 * Serialises every run of one tenant-day until the transaction ends (a transaction-level
 * advisory lock: released by commit, rollback or a dead backend, never left behind).
 */
export async function lockTenantDay(trx: Db, tenantId: string, day: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext('run:' || ${tenantId}::text), hashtext(${day}::text))`.execute(
    trx,
  );
}

/**
 * Planner settings for the rest of a tenant-day transaction (SET LOCAL: gone at commit). JIT
 * compiling the day query costs more than it saves (the work is an index scan and an insert);
 * and right after a million lines are inserted their statistics are stale, so PostgreSQL would
 * bitmap-scan and sort a whole run to return the first 1000 diff rows instead of walking the
 * primary key in order.
 */
export async function tuneForDayRun(trx: Db): Promise<void> {
  await sql`SET LOCAL jit = off`.execute(trx);
  await sql`SET LOCAL enable_bitmapscan = off`.execute(trx);
}

/**
 * Inserts a run that is not current yet, with zero counts; `finishRun` completes it. Its times
 * are the database's `clock_timestamp()`: the audit trail says when the run really happened,
 * also within a range billed with one business `now`.
 */
export async function insertRun(trx: Db, run: NewRun): Promise<string> {
  const row = await trx
    .insertInto('runs')
    .values({
      tenant_id: run.tenantId,
      day: run.day,
      kind: run.kind,
      trigger: run.trigger,
      is_current: false,
      input_revision: run.inputRevision,
      started_at: sql<Date>`clock_timestamp()`,
      finished_at: sql<Date>`clock_timestamp()`,
      line_count: 0,
      total: 0,
      currency: run.currency,
      job_id: run.jobId,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Records a run's counts and, for a charge run, makes it the current run of its day: the
 * previous current run (if any) is superseded first, so the partial unique index
 * `runs_one_current_per_day` never sees two. Superseded runs keep their lines.
 */
export async function finishRun(
  trx: Db,
  run: {
    id: string;
    tenantId: string;
    day: string;
    makeCurrent: boolean;
    lineCount: number;
    total: Minor;
  },
): Promise<void> {
  if (run.makeCurrent) {
    await trx
      .updateTable('runs')
      .set({ is_current: false, superseded_at: sql<Date>`clock_timestamp()` })
      .where('tenant_id', '=', run.tenantId)
      .where('day', '=', run.day)
      .where('is_current', '=', true)
      .execute();
  }
  await trx
    .updateTable('runs')
    .set({
      is_current: run.makeCurrent,
      line_count: run.lineCount,
      total: run.total,
      finished_at: sql<Date>`clock_timestamp()`,
    })
    .where('id', '=', run.id)
    .execute();
}

type RunRow = Selectable<RunsTable>;

function rowToRun(r: RunRow): Run {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    day: r.day,
    kind: r.kind,
    trigger: r.trigger,
    isCurrent: r.is_current,
    inputRevision: toRevision(r.input_revision),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    lineCount: r.line_count,
    total: parseMinor(r.total),
    currency: r.currency.trim(),
    supersededAt: r.superseded_at,
    jobId: r.job_id,
  };
}

export async function findCurrentRun(db: Db, tenantId: string, day: string): Promise<Run | undefined> {
  const row = await db
    .selectFrom('runs')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('day', '=', day)
    .where('is_current', '=', true)
    .executeTakeFirst();
  return row ? rowToRun(row) : undefined;
}

export interface RunFilter {
  tenantId?: string | undefined;
  /** `YYYY-MM`: days of that month. */
  month?: string | undefined;
  day?: string | undefined;
  /** false (default): current runs only; true: every run (superseded and adjustment runs too). */
  history?: boolean;
}

/** Runs ordered by tenant (byte order), day, id. */
export async function listRuns(db: Db, filter: RunFilter): Promise<Run[]> {
  let q = db.selectFrom('runs').selectAll();
  if (!filter.history) q = q.where('is_current', '=', true);
  if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
  if (filter.day !== undefined) q = q.where('day', '=', filter.day);
  if (filter.month !== undefined) {
    // A range on `day` (not to_char(day)), so the (tenant_id, day, id) index serves it.
    q = q.where(
      sql<boolean>`day >= ${`${filter.month}-01`}::date AND day < ${`${filter.month}-01`}::date + interval '1 month'`,
    );
  }
  const rows = await q.orderBy('tenant_id').orderBy('day').orderBy('id').execute();
  return rows.map(rowToRun);
}

/** Which of `days` have a current run (for closing a period). */
export async function daysWithCurrentRun(
  db: Db,
  tenantId: string,
  from: string,
  to: string,
): Promise<Set<string>> {
  const rows = await db
    .selectFrom('runs')
    .select('day')
    .where('tenant_id', '=', tenantId)
    .where('is_current', '=', true)
    .where('day', '>=', from)
    .where('day', '<=', to)
    .execute();
  return new Set(rows.map((r) => r.day));
}

/** `lockTenantDay` for many tenant-days in ONE statement, in (tenant, day) code-point order. */
export function lockTenantDays(trx: Db, days: readonly { tenantId: string; day: string }[]): Promise<void> {
  return lockPairsInOrder(
    trx,
    'run',
    'exclusive',
    days.map((d) => [d.tenantId, d.day] as const),
  );
}

/** What billing a tenant-day reads under its locks, before its data (`readDayStates`). */
export interface DayState {
  /** The day's revision: the highest revision of the marks covering it, 0 when none. */
  revision: Revision;
  /** Its month is closed (a `periods` row). */
  closed: boolean;
  current: Run | undefined;
  /** The input revision of the latest current or adjustment run (`latestRunRevision`); null without. */
  latestRevision: Revision | null;
}

/**
 * For each of `days` (in the order given), in ONE statement: what `readDayRevision`,
 * `findPeriod`, `findCurrentRun` and `latestRunRevision` read for one tenant-day. Call it after
 * the days' locks are held, in a statement of its own (its snapshot must follow the locks).
 */
export async function readDayStates(
  trx: Db,
  days: readonly { tenantId: string; day: string; month: string }[],
): Promise<DayState[]> {
  if (days.length === 0) return [];
  const { rows } = await sql<
    Omit<RunRow, 'id'> & {
      id: string | null;
      day_revision: string | null;
      closed: boolean;
      latest_revision: string | null;
    }
  >`
    SELECT x.i,
           (SELECT max(m.revision) FROM day_marks m
            WHERE m.tenant_id = x.t AND m.from_day <= x.d AND m.to_day >= x.d) AS day_revision,
           EXISTS (SELECT 1 FROM periods p WHERE p.tenant_id = x.t AND p.month = x.m) AS closed,
           (SELECT l.input_revision FROM runs l
            WHERE l.tenant_id = x.t AND l.day = x.d AND (l.is_current OR l.kind = 'adjustment')
            ORDER BY l.id DESC LIMIT 1) AS latest_revision,
           c.*
    FROM unnest(${days.map((d) => d.tenantId)}::text[], ${days.map((d) => d.day)}::date[],
                ${days.map((d) => d.month)}::bpchar[]) WITH ORDINALITY AS x(t, d, m, i)
    LEFT JOIN runs c ON c.tenant_id = x.t AND c.day = x.d AND c.is_current
    ORDER BY x.i
  `.execute(trx);
  return rows.map((r) => ({
    revision: toRevision(r.day_revision),
    closed: r.closed,
    current: r.id === null ? undefined : rowToRun({ ...r, id: r.id }),
    latestRevision: r.latest_revision === null ? null : toRevision(r.latest_revision),
  }));
}

/**
 * `finishRun` with `makeCurrent` for many charge runs of distinct tenant-days, in two
 * statements: the previous current runs of those days are superseded first, then each run gets
 * its counts and becomes current.
 */
export async function finishChargeRuns(
  trx: Db,
  runs: readonly { id: string; tenantId: string; day: string; lineCount: number; total: Minor }[],
): Promise<void> {
  if (runs.length === 0) return;
  await sql`
    UPDATE runs r SET is_current = false, superseded_at = clock_timestamp()
    FROM unnest(${runs.map((r) => r.tenantId)}::text[], ${runs.map((r) => r.day)}::date[]) AS x(t, d)
    WHERE r.tenant_id = x.t AND r.day = x.d AND r.is_current
  `.execute(trx);
  await sql`
    UPDATE runs r SET is_current = true, line_count = x.n, total = x.total, finished_at = clock_timestamp()
    FROM unnest(${runs.map((r) => r.id)}::bigint[], ${runs.map((r) => r.lineCount)}::int[],
                ${runs.map((r) => String(r.total))}::bigint[]) AS x(id, n, total)
    WHERE r.id = x.id
  `.execute(trx);
}

/**
 * `insertRun` for many runs of distinct tenant-days in ONE statement; their ids in the order
 * given (checked against the tenant-days returned: a mismatch throws, nothing is assumed).
 */
export async function insertRuns(trx: Db, runs: readonly NewRun[]): Promise<string[]> {
  if (runs.length === 0) return [];
  const { rows } = await sql<{ id: string; tenant_id: string; day: string }>`
    INSERT INTO runs (tenant_id, day, kind, trigger, is_current, input_revision, started_at, finished_at,
                      line_count, total, currency, job_id)
    SELECT x.t, x.d, x.k, x.g, false, x.r, clock_timestamp(), clock_timestamp(), 0, 0, x.c, x.j
    FROM unnest(${runs.map((r) => r.tenantId)}::text[], ${runs.map((r) => r.day)}::date[],
                ${runs.map((r) => r.kind)}::text[], ${runs.map((r) => r.trigger)}::text[],
                ${runs.map((r) => r.inputRevision)}::bigint[], ${runs.map((r) => r.currency)}::text[],
                ${runs.map((r) => r.jobId)}::text[]) WITH ORDINALITY AS x(t, d, k, g, r, c, j, i)
    ORDER BY x.i
    RETURNING id, tenant_id, day::text AS day
  `.execute(trx);
  return runs.map((run, k) => {
    const row = rows[k];
    if (!row || row.tenant_id !== run.tenantId || row.day !== run.day)
      throw new Error(`insertRuns: run ${k} came back out of order`);
    return row.id;
  });
}

/**
 * Deletes runs this transaction inserted and will not finish. Nothing may refer to them:
 * `charge_lines.run_id` has no foreign key (migration 0012), so a run that has lines is refused
 * here instead (the error rolls the transaction back).
 */
export async function deleteUnfinishedRuns(trx: Db, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const { rows } = await sql<{ id: string; has_lines: boolean }>`
    DELETE FROM runs r WHERE r.id = ANY (${[...ids]}::bigint[]) AND NOT r.is_current
    RETURNING r.id::text AS id, EXISTS (SELECT 1 FROM charge_lines l WHERE l.run_id = r.id) AS has_lines
  `.execute(trx);
  const refused = rows.filter((r) => r.has_lines).map((r) => r.id);
  if (refused.length > 0)
    throw new Error(`deleteUnfinishedRuns: run(s) ${refused.join(', ')} have charge lines`);
}
