import type { Db } from '../db/database.ts';
import {
  computedTotals,
  diffComputedAgainstRun,
  diffRunLines,
  type ItemSum,
  insertDayLines,
} from '../db/repositories/charge-line.repository.ts';
import { recordRunsTotals } from '../db/repositories/console-month.repository.ts';
import { recordDayActivityCount } from '../db/repositories/day-activity-count.repository.ts';
import { type DayLinesParams, firstNeededItem } from '../db/repositories/day-lines.repository.ts';
import { latestRunRevision, readDayRevision } from '../db/repositories/day-revision.repository.ts';
import { applyRunsToMonthRows, type RunDiffs } from '../db/repositories/invoice-month-row.repository.ts';
import { findPeriod, lockPeriod } from '../db/repositories/period.repository.ts';
import { listPriceBooksFor } from '../db/repositories/price-book.repository.ts';
import {
  findCurrentRun,
  finishRun,
  insertRun,
  lockTenantDay,
  tuneForDayRun,
} from '../db/repositories/run.repository.ts';
import { insertRunFailure } from '../db/repositories/run-failure.repository.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import type { AmountDiff, RunDiff } from '../domain/adjustments.ts';
import { billableAt, dayBounds, dayOfMonth, daysInMonth, isValidDay, monthOf } from '../domain/calendar.ts';
import { MissingPriceError } from '../domain/charge-lines.ts';
import { DomainError } from '../domain/errors.ts';
import { type Minor, sumMinor } from '../domain/money.ts';
import { type PriceBook, priceBookInForce } from '../domain/price-book.ts';
import type { RunTrigger } from '../domain/run.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { runAmount, runLines, runSeconds, runsTotal } from '../metrics.ts';
import { adjustClosedDay } from './adjust-closed-day.ts';
import { DayBillingError, DayNotBillableError, UnknownTenantError } from './errors.ts';
import type { KnownTenant } from './night-context.ts';
import { tenantFirstDay } from './tenant-first-day.ts';

export interface BillDayInput {
  tenantId: string;
  /** `YYYY-MM-DD`, tenant-local. */
  day: string;
  trigger: RunTrigger;
  /** The business clock: the day must be billable at `now`. (Run times are the database's clock.) */
  now: Date;
  jobId?: string;
  /** Compute and diff, write nothing at all. */
  dryRun?: boolean;
  /**
   * At most this many rows in `diff.rows` (default 1000; null: all). The totals are always
   * exact. A first run of a 1M-user day would otherwise bring 1M rows into memory.
   */
  maxDiffRows?: number | null;
  /**
   * Bill only if the day is still due, judged under the day's lock: it has no current run, or
   * its input revision is above the one its latest run read. Planned jobs set it, so a duplicate
   * plan, a manual run or a retry after commit ends as `skipped: up-to-date` instead of writing
   * a second run; this check, not job ids, is what makes planned work run once.
   */
  onlyIfDue?: boolean;
  /**
   * The tenant, its first day and its price books as the caller read them for the whole night
   * (`loadNight`): saves three queries per tenant-day. Read here when absent.
   */
  known?: KnownTenant;
}

export type BillDayOutcome =
  | { status: 'billed'; runId: string; lineCount: number; total: Minor; diff: RunDiff }
  | {
      status: 'adjusted';
      runId: string | null;
      lineCount: number;
      total: Minor;
      diff: RunDiff;
      /** The open period the adjustment lines are invoiced in; null when nothing was written. */
      period: string | null;
    }
  | { status: 'dry-run'; diff: RunDiff; closedPeriod: boolean }
  | { status: 'skipped'; reason: 'before-first-day' | 'up-to-date' };

const DEFAULT_MAX_DIFF_ROWS = 1000;

/** A tenant-day ready to be billed (`prepareDay`). */
export interface DayContext {
  tenant: Tenant;
  input: BillDayInput;
  params: DayLinesParams;
  month: string;
  limit: number | null;
}

/**
 * Bills one tenant-day (`docs/billing.md`, Runs and Periods) in ONE transaction:
 * - serialised per tenant-day (advisory lock) and against `close` of its month;
 * - reads the day's input revision first, then computes every line set-based in SQL;
 * - open period: inserts a new run and its lines and makes it the current run (the previous one
 *   is kept, superseded); closed period: writes `adjustment.<item>` lines (new - billed) into the
 *   earliest open period after the day's month, under a non-current `adjustment` run. When
 *   nothing changed, nothing is written, except a 0-line adjustment run when the day's revision
 *   is newer than every run's, so that "revision <= max(runs.input_revision)" says "done".
 * A failure anywhere rolls everything back: the previous current run stays exactly as it was.
 * Amounts are minor units of the tenant's currency.
 * Throws UnknownTenantError, DayNotBillableError (now < billableAt(day)), DayBillingError (a
 * needed price is missing or in another currency: names tenant, day and item).
 */
export async function billDay(db: Db, input: BillDayInput, logger?: Logger): Promise<BillDayOutcome> {
  const startedMs = performance.now();
  const prepared = await prepareDay(db, input);
  if ('outcome' in prepared) return prepared.outcome;
  const ctx = prepared.ctx;
  let outcome: BillDayOutcome;
  try {
    outcome = await inTransaction(db, (trx) => billInTransaction(trx, ctx));
  } catch (error) {
    await recordDayFailure(db, ctx, error);
    throw error;
  }
  return recordDayOutcome(ctx, outcome, (performance.now() - startedMs) / 1000, logger);
}

/**
 * What billDay checks and reads before its transaction: the day, the tenant, its first day, the
 * day's billability at `now`; the outcome when the day is before the tenant's first day, else
 * the day's context. Throws as billDay does.
 */
export async function prepareDay(
  db: Db,
  input: BillDayInput,
): Promise<{ outcome: BillDayOutcome } | { ctx: DayContext }> {
  if (!isValidDay(input.day)) throw new InputError(`invalid day "${input.day}": expected YYYY-MM-DD`);
  const tenant = input.known?.tenant ?? (await findTenant(db, input.tenantId));
  if (!tenant) throw new UnknownTenantError(input.tenantId);
  const firstDay = input.known ? input.known.firstDay : await tenantFirstDay(db, tenant);
  if (firstDay === undefined || input.day < firstDay) {
    runsTotal.inc({ trigger: input.trigger, outcome: 'skipped' });
    return { outcome: { status: 'skipped', reason: 'before-first-day' } };
  }
  const billable = billableAt(input.day, tenant.timezone, tenant.cutoffHour);
  if (input.now.getTime() < billable.getTime()) throw new DayNotBillableError(tenant.id, input.day, billable);

  const bounds = dayBounds(input.day, tenant.timezone);
  return {
    ctx: {
      tenant,
      input,
      month: monthOf(input.day),
      limit: input.maxDiffRows === undefined ? DEFAULT_MAX_DIFF_ROWS : input.maxDiffRows,
      params: {
        tenantId: tenant.id,
        day: input.day,
        start: bounds.start,
        end: bounds.end,
        dayOfMonth: dayOfMonth(input.day),
        monthLength: daysInMonth(input.day),
      },
    },
  };
}

/**
 * After a tenant-day's transaction rolled back: the failure metric and, unless it was a dry
 * run, the `run_failures` row reconcile reads (written on `db`; a database that is away cannot
 * take it either, and that must not hide the original error).
 */
export async function recordDayFailure(db: Db, ctx: DayContext, error: unknown): Promise<void> {
  runsTotal.inc({ trigger: ctx.input.trigger, outcome: 'failed' });
  if (ctx.input.dryRun) return;
  await insertRunFailure(db, {
    tenantId: ctx.tenant.id,
    day: ctx.input.day,
    trigger: ctx.input.trigger,
    error: (error as Error).message ?? String(error),
  }).catch(() => {});
}

/** After a tenant-day's transaction committed: its metrics and its log line. Returns `outcome`. */
export function recordDayOutcome(
  ctx: DayContext,
  outcome: BillDayOutcome,
  seconds: number,
  logger?: Logger,
): BillDayOutcome {
  const { tenant, input } = ctx;
  runSeconds.observe({ trigger: input.trigger }, seconds);
  runsTotal.inc({ trigger: input.trigger, outcome: outcome.status });
  if (outcome.status === 'billed' || outcome.status === 'adjusted') {
    runLines.inc({ kind: outcome.status === 'billed' ? 'charge' : 'adjustment' }, outcome.lineCount);
    // A counter cannot go down: negative adjustments are visible in the runs table, not here.
    if (outcome.total > 0) runAmount.inc({ currency: tenant.currency }, outcome.total);
  }
  logger
    ?.child({
      tenantId: tenant.id,
      day: input.day,
      runId: 'runId' in outcome ? outcome.runId : null,
      jobId: input.jobId ?? null,
    })
    .info(
      {
        status: outcome.status,
        trigger: input.trigger,
        lineCount: 'lineCount' in outcome ? outcome.lineCount : 0,
        total: 'total' in outcome ? outcome.total : 0,
        delta: outcome.status === 'skipped' ? 0 : outcome.diff.totals.delta,
        seconds,
      },
      'tenant-day run finished',
    );
  return outcome;
}

/** The price book in force, or the DayBillingError a needed price makes (nothing is written then). */
export async function usableBook(trx: Db, ctx: DayContext): Promise<PriceBook | undefined> {
  const { tenant, params } = ctx;
  let book: PriceBook | undefined;
  try {
    const books = ctx.input.known?.priceBooks ?? (await listPriceBooksFor(trx, tenant.id));
    book = priceBookInForce(books, tenant.id, params.day);
  } catch (error) {
    if (error instanceof DomainError) throw new DayBillingError(tenant.id, params.day, error.message);
    throw error;
  }
  if (book !== undefined && book.currency.trim() === tenant.currency.trim()) return book;
  const needed = await firstNeededItem(trx, params);
  if (needed === undefined) return undefined; // nobody to bill: no price needed
  const reason =
    book === undefined
      ? 'no price book is in force'
      : `price book ${book.id} is in ${book.currency}, the tenant bills in ${tenant.currency}`;
  const missing = new MissingPriceError(params.day, needed.item, reason);
  throw new DayBillingError(
    tenant.id,
    params.day,
    `${missing.message} (first needed by user "${needed.userId}")`,
    needed.item,
  );
}

export async function billInTransaction(trx: Db, ctx: DayContext): Promise<BillDayOutcome> {
  const { tenant, input, params } = ctx;
  await lockTenantDay(trx, tenant.id, input.day);
  await tuneForDayRun(trx);
  await lockPeriod(trx, tenant.id, ctx.month, 'shared');
  // Read before the data: an input change committed after this point raises the revision again.
  const revision = await readDayRevision(trx, tenant.id, input.day);
  const closed = (await findPeriod(trx, tenant.id, ctx.month)) !== undefined;
  const current = await findCurrentRun(trx, tenant.id, input.day);
  if (
    input.onlyIfDue &&
    current &&
    ((await latestRunRevision(trx, tenant.id, input.day)) ?? -1) >= revision
  ) {
    return { status: 'skipped', reason: 'up-to-date' };
  }
  // The console's and reconcile's active-user count, true at the revision this run reads.
  if (!input.dryRun) await recordDayActivityCount(trx, tenant.id, input.day, revision);
  const book = await usableBook(trx, ctx);
  const bookId = book?.id ?? null;
  if (closed) return adjustClosedDay(trx, ctx, { revision, current, bookId });

  if (input.dryRun) {
    const rows = await diffComputedAgainstRun(trx, current?.id ?? null, params, bookId, ctx.limit);
    const after = (await computedTotals(trx, params, bookId)).total;
    return { status: 'dry-run', closedPeriod: false, diff: withTotals(rows, current?.total ?? 0, after) };
  }
  const runId = await insertRun(trx, {
    tenantId: tenant.id,
    day: input.day,
    kind: 'charge',
    trigger: input.trigger,
    inputRevision: revision,
    currency: tenant.currency,
    jobId: input.jobId ?? null,
  });
  const { lineCount, total, byItem } = await insertDayLines(trx, runId, params, bookId);
  const diffs = await recordChargeRuns(trx, [
    {
      runId,
      byItem,
      tenantId: tenant.id,
      day: input.day,
      removedRunId: current?.id ?? null,
      diffLimit: ctx.limit,
    },
  ]);
  const rows = await diffOfRun(trx, diffs, current?.id ?? null, runId, ctx.limit);
  await finishRun(trx, {
    id: runId,
    tenantId: tenant.id,
    day: input.day,
    makeCurrent: true,
    lineCount,
    total,
  });
  return { status: 'billed', runId, lineCount, total, diff: withTotals(rows, current?.total ?? 0, total) };
}

/** A charge run whose lines are stored, what `insertDayLines` summed, and the run it supersedes. */
export interface StoredChargeRun {
  runId: string;
  byItem: readonly ItemSum[];
  tenantId: string;
  day: string;
  /** The day's current run until now (its lines leave the month rows); null on a first run. */
  removedRunId: string | null;
  /** At most this many rows of the run's diff against `removedRunId` (`diffOfRun`); 0 or absent: none. */
  diffLimit?: number | null;
}

/**
 * What is kept beside the lines of charge runs written in one transaction: the console's sums by
 * item (one statement for all runs) and the export's finished month rows (each run's lines in,
 * the superseded run's out: one statement for the batch, a round more per tenant-month repeated). Every charge run, billed alone or in a batch
 * (`billDays`), goes through here, so neither can miss them.
 */
export async function recordChargeRuns(trx: Db, runs: readonly StoredChargeRun[]): Promise<RunDiffs> {
  await recordRunsTotals(trx, runs);
  return applyRunsToMonthRows(
    trx,
    runs.map((r) => ({
      tenantId: r.tenantId,
      day: r.day,
      addedRunId: r.runId,
      removedRunId: r.removedRunId,
      // Their lines come from the day query (`insertDayLines`/`insertDaysLines`): on the rule.
      ruled: true,
      ...(r.diffLimit === undefined ? {} : { diffLimit: r.diffLimit }),
    })),
  );
}

/**
 * The diff of run `runId` against `removedRunId`, at most `limit` rows: the one the month rows'
 * statement gave (`recordChargeRuns`, which reads it from the keys it joins anyway: a re-run
 * then merges its lines with another run's once, not twice), else `diffRunLines` (a day's first
 * run: its own lines only).
 */
export async function diffOfRun(
  trx: Db,
  diffs: RunDiffs,
  removedRunId: string | null,
  runId: string,
  limit: number | null,
): Promise<AmountDiff[]> {
  return diffs.get(runId) ?? (await diffRunLines(trx, removedRunId, runId, limit));
}

export function withTotals(rows: RunDiff['rows'], before: number, after: number): RunDiff {
  return { rows, totals: { before, after, delta: sumMinor([after, -before]) } };
}
