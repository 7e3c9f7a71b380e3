import type { Db } from '../db/database.ts';
import {
  diffBilledAgainstComputed,
  insertAdjustmentLines,
} from '../db/repositories/adjustment-line.repository.ts';
import { maxRunRevision } from '../db/repositories/day-revision.repository.ts';
import { finishRun, insertRun } from '../db/repositories/run.repository.ts';
import { adjustmentLines, type RunDiff } from '../domain/adjustments.ts';
import { sumMinor } from '../domain/money.ts';
import type { Revision, Run } from '../domain/run.ts';
import { adjustmentPeriod, billedTotal } from './adjustment-period.ts';
import type { BillDayOutcome, DayContext } from './bill-day.service.ts';

/**
 * A run of a day in a closed period (`billInTransaction`): the day's lines stay as they were
 * closed; what changed becomes adjustment lines, assigned to the earliest open period after the
 * day's own (`docs/billing.md`, Periods, closing and adjustments).
 */
export async function adjustClosedDay(
  trx: Db,
  ctx: DayContext,
  s: { revision: Revision; current: Run | undefined; bookId: string | null },
): Promise<BillDayOutcome> {
  const { tenant, input, params } = ctx;
  const changes = await diffBilledAgainstComputed(trx, s.current?.id ?? null, params, s.bookId);
  const before = await billedTotal(trx, tenant.id, input.day, s.current);
  const delta = sumMinor(changes.map((c) => c.after - c.before));
  const diff: RunDiff = {
    rows: ctx.limit === null ? changes : changes.slice(0, ctx.limit),
    totals: { before, after: sumMinor([before, delta]), delta },
  };
  if (input.dryRun) return { status: 'dry-run', closedPeriod: true, diff };
  if (changes.length === 0 && s.revision <= (await maxRunRevision(trx, tenant.id, input.day))) {
    return { status: 'adjusted', runId: null, lineCount: 0, total: 0, diff, period: null };
  }
  // The domain rule itself turns the differences into lines, so SQL and domain cannot drift.
  const lines = adjustmentLines(
    changes.map((c) => ({ userId: c.userId, item: c.item, billing: c.billing, amount: c.before })),
    changes.map((c) => ({ userId: c.userId, item: c.item, billing: c.billing, amount: c.after })),
  );
  const period = await adjustmentPeriod(trx, tenant.id, ctx.month);
  const runId = await insertRun(trx, {
    tenantId: tenant.id,
    day: input.day,
    kind: 'adjustment',
    trigger: input.trigger,
    inputRevision: s.revision,
    currency: tenant.currency,
    jobId: input.jobId ?? null,
  });
  await insertAdjustmentLines(
    trx,
    { runId, tenantId: tenant.id, period, day: input.day, currency: tenant.currency },
    lines,
  );
  await finishRun(trx, {
    id: runId,
    tenantId: tenant.id,
    day: input.day,
    makeCurrent: false,
    lineCount: lines.length,
    total: delta,
  });
  return { status: 'adjusted', runId, lineCount: lines.length, total: delta, diff, period };
}
