import type { Db } from '../db/database.ts';
import { recordDayActivityCounts } from '../db/repositories/day-activity-count.repository.ts';
import { insertDaysLines } from '../db/repositories/days-lines.repository.ts';
import { lockPeriodsShared } from '../db/repositories/period.repository.ts';
import {
  type DayState,
  deleteUnfinishedRuns,
  finishChargeRuns,
  insertRuns,
  lockTenantDays,
  readDayStates,
  tuneForDayRun,
} from '../db/repositories/run.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import type { RunDiff } from '../domain/adjustments.ts';
import type { Minor } from '../domain/money.ts';
import type { Logger } from '../logger.ts';
import {
  type BillDayInput,
  type BillDayOutcome,
  billInTransaction,
  type DayContext,
  diffOfRun,
  prepareDay,
  recordChargeRuns,
  recordDayFailure,
  recordDayOutcome,
  type StoredChargeRun,
  usableBook,
  withTotals,
} from './bill-day.service.ts';
import { DayBillingError } from './errors.ts';

/** What `billDays` returns for each input, in the order of the inputs. */
export type DayBilled = { outcome: BillDayOutcome } | { error: Error };

/** The most tenant-days one transaction bills (`billDays`). */
export const BATCH_DAYS = 100;
/**
 * A batch commits once the lines it wrote reach this many (checked after each lines statement of
 * a group of days): a batch is for small tenant-days.
 * A big tenant-day (the night's floor: one tenant of 500,000 users) is the only one of its
 * transaction, as if billed alone.
 */
export const BATCH_LINES = 20_000;

/**
 * Bills many tenant-days with the result of `billDay` for each, in far fewer round trips: the
 * days go in transactions of up to `BATCH_DAYS` (fewer once `BATCH_LINES` lines are written),
 * where the locks of all days are taken in one statement, what each day reads before its data in
 * one more, the runs inserted in one statement, the lines of consecutive charge days in one
 * statement per group (`insertDaysLines`, the rows billDay writes), and the runs are finished together. Each day stays atomic (its lines, run, activity count and the superseding of
 * its previous run commit together), and the results are those of billDay day by day: a day
 * before its tenant's first day is skipped, a day that is not due (`onlyIfDue`) is skipped,
 * a closed month or a dry run goes through billDay's own steps inside the batch, a day whose
 * price is missing fails alone (its error in its result, the others billed). When a statement
 * fails (a lock timeout, the database away), the batch rolls back and its days are billed
 * again one transaction each, so each gets its own outcome or error. Errors of `prepareDay`
 * (unknown tenant, a day not billable at `now`, a malformed day) are the day's result.
 * Takes any order; days of one tenant should come oldest first, as billDay would bill them.
 */
export async function billDays(
  db: Db,
  inputs: readonly BillDayInput[],
  logger?: Logger,
  options: { maxLines?: number } = {},
): Promise<DayBilled[]> {
  const maxLines = options.maxLines ?? BATCH_LINES;
  const results: DayBilled[] = new Array(inputs.length);
  const ready: { index: number; ctx: DayContext }[] = [];
  for (const [index, input] of inputs.entries()) {
    try {
      const prepared = await prepareDay(db, input);
      if ('outcome' in prepared) results[index] = { outcome: prepared.outcome };
      else ready.push({ index, ctx: prepared.ctx });
    } catch (error) {
      results[index] = { error: asError(error) };
    }
  }
  let pending = ready;
  while (pending.length > 0) {
    // A tenant-day at most once per batch (two jobs of one day: the second waits for the next).
    const seen = new Set<string>();
    const batch: typeof pending = [];
    for (const p of pending) {
      const key = `${p.ctx.tenant.id}\u0000${p.ctx.input.day}`;
      if (seen.has(key) || batch.length === BATCH_DAYS) break;
      seen.add(key);
      batch.push(p);
    }
    const done =
      batch.length === 1
        ? await billOne(db, batch, results, logger)
        : await billBatch(db, batch, results, logger, maxLines);
    pending = pending.slice(done);
  }
  return results;
}

/** One day alone: billDay's own transaction. Returns 1. */
async function billOne(
  db: Db,
  batch: { index: number; ctx: DayContext }[],
  results: DayBilled[],
  logger: Logger | undefined,
): Promise<number> {
  const { index, ctx } = batch[0] as { index: number; ctx: DayContext };
  results[index] = await billAlone(db, ctx, logger);
  return 1;
}

async function billAlone(db: Db, ctx: DayContext, logger: Logger | undefined): Promise<DayBilled> {
  const startedMs = performance.now();
  try {
    const outcome = await inTransaction(db, (trx) => billInTransaction(trx, ctx));
    return { outcome: recordDayOutcome(ctx, outcome, (performance.now() - startedMs) / 1000, logger) };
  } catch (error) {
    await recordDayFailure(db, ctx, error);
    return { error: asError(error) };
  }
}

/** A charge run written in the batch, finished with the others at its end. */
interface Written {
  index: number;
  ctx: DayContext;
  runId: string;
  lineCount: number;
  total: Minor;
  before: Minor;
  rows: RunDiff['rows'];
}

/**
 * Bills the first days of `batch` in one transaction, until `maxLines` lines are written;
 * returns how many days it took (at least one). On a failed statement, bills them one by one.
 */
async function billBatch(
  db: Db,
  batch: { index: number; ctx: DayContext }[],
  results: DayBilled[],
  logger: Logger | undefined,
  maxLines: number,
): Promise<number> {
  const startedMs = performance.now();
  const local: DayBilled[] = [];
  let taken = 0;
  try {
    taken = await inTransaction(db, async (trx) => {
      await tuneForDayRun(trx);
      const keys = batch.map(({ ctx }) => ({
        tenantId: ctx.tenant.id,
        day: ctx.input.day,
        month: ctx.month,
      }));
      await lockTenantDays(trx, keys);
      await lockPeriodsShared(trx, keys);
      // Its own statement, after the locks: what a run committed before them wrote is seen.
      const states = await readDayStates(trx, keys);
      // What each day needs, decided before anything is written: billDay's own steps (a closed
      // month, a dry run), nothing (not due), its error (a missing price), or a charge run.
      const plan: (
        | { kind: 'alone' }
        | { kind: 'done'; result: DayBilled }
        | { kind: 'charge'; bookId: string | null }
      )[] = [];
      for (const [k, { ctx }] of batch.entries()) {
        const state = states[k] as DayState;
        if (state.closed || ctx.input.dryRun) plan.push({ kind: 'alone' });
        else if (ctx.input.onlyIfDue && state.current && (state.latestRevision ?? -1) >= state.revision)
          plan.push({ kind: 'done', result: { outcome: { status: 'skipped', reason: 'up-to-date' } } });
        else {
          try {
            plan.push({ kind: 'charge', bookId: (await usableBook(trx, ctx))?.id ?? null });
          } catch (error) {
            // A missing price fails this day alone (nothing of it is written); the batch goes on.
            if (!(error instanceof DayBillingError)) throw error;
            plan.push({ kind: 'done', result: { error } });
          }
        }
      }
      const charged = batch.flatMap((_day, k) => (plan[k]?.kind === 'charge' ? [k] : []));
      const runIds = await insertRuns(
        trx,
        charged.map((k) => {
          const { ctx } = batch[k] as { ctx: DayContext };
          const state = states[k] as DayState;
          return {
            tenantId: ctx.tenant.id,
            day: ctx.input.day,
            kind: 'charge',
            trigger: ctx.input.trigger,
            inputRevision: state.revision,
            currency: ctx.tenant.currency,
            jobId: ctx.input.jobId ?? null,
          };
        }),
      );
      const runOf = new Map(charged.map((k, j) => [k, runIds[j] as string]));
      const written: Written[] = [];
      const sums: StoredChargeRun[] = [];
      let lines = 0;
      let n = 0;
      // The lines of consecutive charge days in one statement (`insertDaysLines`). Groups grow
      // (1, 4, 16, ... days) so that a batch still stops soon after `maxLines` lines: a big day
      // first in a batch is written alone and ends it.
      let group: number[] = [];
      let groupCap = 1;
      const flush = async () => {
        if (group.length === 0) return;
        const days = group.map((k) => ({
          runId: runOf.get(k) as string,
          params: (batch[k] as { ctx: DayContext }).ctx.params,
          priceBookId: (plan[k] as { bookId: string | null }).bookId,
        }));
        const stored = await insertDaysLines(trx, days);
        for (const [j, k] of group.entries()) {
          const { ctx } = batch[k] as { ctx: DayContext };
          const state = states[k] as DayState;
          const { runId } = days[j] as { runId: string };
          const { lineCount, total, byItem } = stored[j] as (typeof stored)[number];
          sums.push({
            runId,
            byItem,
            tenantId: ctx.tenant.id,
            day: ctx.input.day,
            removedRunId: state.current?.id ?? null,
            diffLimit: ctx.limit,
          });
          written.push({
            index: k,
            ctx,
            runId,
            lineCount,
            total,
            before: state.current?.total ?? 0,
            rows: [],
          });
          lines += lineCount;
        }
        group = [];
        groupCap *= 4;
      };
      for (const [k, { ctx }] of batch.entries()) {
        if (group.length === groupCap) await flush();
        if (k > 0 && group.length === 0 && lines >= maxLines) break;
        n += 1;
        const step = plan[k] as (typeof plan)[number];
        if (step.kind === 'alone') {
          await flush();
          local[k] = { outcome: await billInTransaction(trx, ctx) };
        } else if (step.kind === 'done') local[k] = step.result;
        else group.push(k);
      }
      await flush();
      // Runs of days left for the next batch (past maxLines): never finished, removed.
      await deleteUnfinishedRuns(
        trx,
        charged.filter((k) => k >= n).map((k) => runOf.get(k) as string),
      );
      const diffs = await recordChargeRuns(trx, sums);
      for (const w of written) {
        const removed = (states[w.index] as DayState).current?.id ?? null;
        w.rows = await diffOfRun(trx, diffs, removed, w.runId, w.ctx.limit);
      }
      const counted = written.map((w) => ({
        tenantId: w.ctx.tenant.id,
        day: w.ctx.input.day,
        revision: (states[w.index] as DayState).revision,
      }));
      // The console's and reconcile's active-user counts, true at the revision each run read.
      await recordDayActivityCounts(trx, counted);
      await finishChargeRuns(
        trx,
        written.map((w) => ({
          id: w.runId,
          tenantId: w.ctx.tenant.id,
          day: w.ctx.input.day,
          lineCount: w.lineCount,
          total: w.total,
        })),
      );
      for (const w of written) {
        local[w.index] = {
          outcome: {
            status: 'billed',
            runId: w.runId,
            lineCount: w.lineCount,
            total: w.total,
            diff: withTotals(w.rows, w.before, w.total),
          },
        };
      }
      return n;
    });
  } catch (error) {
    logger?.warn(
      { err: error, days: batch.length },
      'a batch of tenant-days failed; billing its days one by one',
    );
    for (const { index, ctx } of batch) results[index] = await billAlone(db, ctx, logger);
    return batch.length;
  }
  // Each day's share of the batch's time: what its own run time would have been.
  const seconds = (performance.now() - startedMs) / 1000 / taken;
  for (let k = 0; k < taken; k++) {
    const { index, ctx } = batch[k] as { index: number; ctx: DayContext };
    const r = local[k] as DayBilled;
    if ('outcome' in r) results[index] = { outcome: recordDayOutcome(ctx, r.outcome, seconds, logger) };
    else {
      await recordDayFailure(db, ctx, r.error);
      results[index] = r;
    }
  }
  return taken;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
