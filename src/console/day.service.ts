import { billDay } from '../billing/bill-day.service.ts';
import type { Db } from '../db/database.ts';
import type { StoredChargeLine } from '../db/repositories/charge-line.repository.ts';
import { type LineKey, pageRunDiff, pageRunLines } from '../db/repositories/console-day.repository.ts';
import {
  ensureRunTotals,
  type ItemTotal,
  runItemTotals,
} from '../db/repositories/console-month.repository.ts';
import { readDayRevision } from '../db/repositories/day-revision.repository.ts';
import { listRuns } from '../db/repositories/run.repository.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import type { AmountDiff, RunDiff } from '../domain/adjustments.ts';
import { isValidDay } from '../domain/calendar.ts';
import { compareKeys } from '../domain/code-point-order.ts';
import type { Revision, Run } from '../domain/run.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { NotFoundError } from '../insight/errors.ts';

/** Lines per page, and the most diff rows a page shows (the totals are always exact). */
export const LINES_PER_PAGE = 50;
export const DIFF_ROWS = 200;
/**
 * A page of the run diff compares at most DIFF_BUDGET lines of each run (one merge of both runs'
 * primary-key ranges from the keyset), whatever the runs' size and wherever the page starts.
 */
export const DIFF_BUDGET = 25_000;

export interface DayQuery {
  tenantId: string;
  day: string;
  /** Whose lines to page (default: the current run, else the latest run). */
  runId?: string | undefined;
  userPrefix?: string | undefined;
  after?: { userId: string; item: string } | undefined;
  /** Diff run `from` (before) against run `to` (after), from the keyset `after` on. */
  diff?: { from: string; to: string; after?: LineKey | undefined } | undefined;
}

/** One (item, billing) of a run diff, from the runs' sums: exact whatever the page shows. */
export interface ItemDiff {
  item: string;
  billing: string;
  before: { lines: number; amount: number };
  after: { lines: number; amount: number };
}

export interface RunPair {
  from: Run;
  to: Run;
  /** Both runs' sums by (item, billing), side by side (from `console_run_totals`). */
  items: ItemDiff[];
  /** The page's per-user differences, in (user, item, billing) order. */
  rows: AmountDiff[];
  /** Where this page started (null: the first line). */
  after: LineKey | null;
  /** Where the next page starts; null when this page reached the end of both runs. */
  next: LineKey | null;
}

export interface DayPage {
  tenant: Tenant;
  day: string;
  /** Every run of the day, oldest first (charge runs and adjustment runs). */
  runs: Run[];
  /** The day's input revision: above every run's means the day is stale. */
  revision: Revision;
  linesRun: Run | null;
  lines: StoredChargeLine[];
  /** Keyset of the next page, when there is one. */
  next: { userId: string; item: string } | null;
  diff: RunPair | null;
}

async function requireTenantDay(db: Db, tenantId: string, day: string): Promise<Tenant> {
  if (!isValidDay(day)) throw new InputError(`day: invalid day "${day}": expected YYYY-MM-DD`);
  const tenant = await findTenant(db, tenantId);
  if (!tenant) throw new NotFoundError(`unknown tenant "${tenantId}"`, 'UNKNOWN_TENANT');
  return tenant;
}

function runOf(runs: readonly Run[], id: string, what: string, tenant: string, day: string): Run {
  const run = runs.find((r) => r.id === id);
  if (!run) throw new InputError(`${what}: run "${id}" is not a run of tenant "${tenant}" on ${day}`);
  return run;
}

/**
 * One tenant-day: its runs (from the `runs` table: a row per run), one keyset page of a run's
 * lines, and on request the difference between two of its runs (at most DIFF_ROWS rows).
 */
export async function consoleDay(db: Db, q: DayQuery): Promise<DayPage> {
  const tenant = await requireTenantDay(db, q.tenantId, q.day);
  const runs = await listRuns(db, { tenantId: tenant.id, day: q.day, history: true });
  const revision = await readDayRevision(db, tenant.id, q.day);
  const chargeRuns = runs.filter((r) => r.kind === 'charge');
  const linesRun =
    q.runId !== undefined
      ? runOf(runs, q.runId, 'run', tenant.id, q.day)
      : (chargeRuns.find((r) => r.isCurrent) ?? chargeRuns.at(-1) ?? null);
  let lines: StoredChargeLine[] = [];
  let next: DayPage['next'] = null;
  if (linesRun !== null && linesRun.kind === 'charge') {
    const page = await pageRunLines(db, {
      runId: linesRun.id,
      userPrefix: q.userPrefix,
      after: q.after,
      limit: LINES_PER_PAGE,
    });
    lines = page.slice(0, LINES_PER_PAGE);
    const last = lines.at(-1);
    if (page.length > LINES_PER_PAGE && last) next = { userId: last.userId, item: last.item };
  }
  let diff: RunPair | null = null;
  if (q.diff) {
    const from = runOf(runs, q.diff.from, 'from', tenant.id, q.day);
    const to = runOf(runs, q.diff.to, 'to', tenant.id, q.day);
    if (from.kind !== 'charge' || to.kind !== 'charge')
      throw new InputError('diff: adjustment runs have no lines of the day to compare; pick charge runs');
    await ensureRunTotals(db, [from.id, to.id]);
    const items = itemDiff(await runItemTotals(db, from.id), await runItemTotals(db, to.id));
    const page = await pageRunDiff(db, {
      beforeRunId: from.id,
      afterRunId: to.id,
      after: q.diff.after,
      limit: DIFF_ROWS,
      budget: DIFF_BUDGET,
    });
    diff = { from, to, items, rows: page.rows, after: q.diff.after ?? null, next: page.next };
  }
  return { tenant, day: q.day, runs, revision, linesRun, lines, next, diff };
}

/** Two runs' sums by (item, billing) side by side, in byte order; a missing side is zero. */
export function itemDiff(before: readonly ItemTotal[], after: readonly ItemTotal[]): ItemDiff[] {
  const key = (t: ItemTotal) => `${t.item}\u0000${t.billing}`;
  const rows = new Map<string, ItemDiff>();
  const zero = () => ({ lines: 0, amount: 0 });
  for (const [side, totals] of [
    ['before', before],
    ['after', after],
  ] as const) {
    for (const t of totals) {
      const row = rows.get(key(t)) ?? { item: t.item, billing: t.billing, before: zero(), after: zero() };
      row[side] = { lines: t.lines, amount: t.amount };
      rows.set(key(t), row);
    }
  }
  return [...rows.values()].sort((a, b) => compareKeys([a.item, a.billing], [b.item, b.billing]));
}

export type ReplayPreview =
  | { status: 'dry-run'; diff: RunDiff; closedPeriod: boolean; truncated: boolean }
  | { status: 'skipped'; reason: string };

/**
 * What a replay of the day would change now: `billDay` in dry-run mode (computes the day from the
 * data as it is, diffs it against the current run, writes nothing). Refusals (day not billable
 * yet, unknown tenant) are InputErrors naming the day.
 */
export async function previewReplay(
  db: Db,
  q: { tenantId: string; day: string; now: Date },
): Promise<ReplayPreview> {
  const tenant = await requireTenantDay(db, q.tenantId, q.day);
  const outcome = await billDay(db, {
    tenantId: tenant.id,
    day: q.day,
    trigger: 'replay',
    now: q.now,
    dryRun: true,
    maxDiffRows: DIFF_ROWS + 1,
  });
  if (outcome.status === 'skipped') {
    return {
      status: 'skipped',
      reason:
        outcome.reason === 'before-first-day'
          ? "the day is before the tenant's first day: nothing to bill"
          : 'the day is up to date',
    };
  }
  if (outcome.status !== 'dry-run') throw new Error(`a dry run answered ${outcome.status}`);
  const truncated = outcome.diff.rows.length > DIFF_ROWS;
  return {
    status: 'dry-run',
    closedPeriod: outcome.closedPeriod,
    truncated,
    diff: { ...outcome.diff, rows: outcome.diff.rows.slice(0, DIFF_ROWS) },
  };
}
