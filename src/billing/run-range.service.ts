import type { Db } from '../db/database.ts';
import { addDays, billableAt, type Day, dayCount, latestBillableDay } from '../domain/calendar.ts';
import type { RunTrigger } from '../domain/run.ts';
import type { Tenant } from '../domain/tenant.ts';
import type { Logger } from '../logger.ts';
import { runsTotal } from '../metrics.ts';
import type { BillDayOutcome } from './bill-day.service.ts';
import { BATCH_DAYS, billDays, type DayBilled } from './bill-days.service.ts';
import { DayNotBillableError } from './errors.ts';
import { loadNight } from './night-context.ts';
import { resolveTenantDays } from './tenant-days.ts';

export interface BillRangeInput {
  /** One tenant; all tenants (in id order) when absent. */
  tenantId?: string | undefined;
  from: Day;
  /** Inclusive; `from` when absent. */
  to?: Day | undefined;
  trigger: RunTrigger;
  now: Date;
  dryRun?: boolean;
  /** Passed to billDay (default there: 1000 rows; null: all). */
  maxDiffRows?: number | null;
  /** Called after each tenant-day, billed or failed. */
  onProgress?: (progress: { done: number; total: number; tenantId: string; day: Day }) => void;
  /** Checked between batches of tenant-days: an abort stops the range cleanly (each tenant-day is atomic). */
  signal?: AbortSignal;
  /**
   * Batches billed at once, each on its own connection (default 1). A tenant's days stay in
   * order on one lane; results come back in tenant order whatever the lanes. Must be 1 on the
   * embedded database, which runs one transaction at a time.
   */
  concurrency?: number;
}

export type DayResult =
  /** `through`: the last day of a run of days skipped before the tenant's first day (one result for all). */
  | { tenantId: string; day: Day; through?: Day; outcome: BillDayOutcome }
  | { tenantId: string; day: Day; error: Error };

export interface BillRangeResult {
  /** The tenants of the range (for their currency and zone). */
  tenants: Tenant[];
  results: DayResult[];
  /** True when `signal` stopped the range before its end; `results` holds what was done. */
  interrupted: boolean;
}

/**
 * Bills (or, with `dryRun`, diffs) every tenant-day of an inclusive range through `billDays`,
 * tenants in id order, days oldest first: consecutive tenants go in groups of up to `BATCH_DAYS`, and
 * a group is billed day by day, each day of all its tenants in one batch (a lone tenant: one
 * day at a time), each tenant-day atomic and with the outcome billDay would give it. Refuses the whole range
 * up front (DayNotBillableError, exit 2, naming the first such day) when a day is not billable
 * at `now` for a tenant, and with InputError for a malformed or inverted range (`resolveTenantDays`).
 * Days before a tenant's first day come back as ONE `skipped` result (`day`..`through`): a range
 * reaching back to year 1 costs no more than its billable days. A day that fails does not stop
 * the others: its error is in its result, and the caller decides the exit status.
 */
export async function billRange(db: Db, input: BillRangeInput, logger?: Logger): Promise<BillRangeResult> {
  const { tenants, from, to } = await resolveTenantDays(db, input);
  for (const tenant of tenants) refuseUnbillable(tenant, from, to, input.now);

  const total = tenants.length * dayCount(from, to);
  let done = 0;
  // First days and price books of every tenant in two queries, not three per tenant-day.
  const night = await loadNight(db, tenants);
  const perTenant: DayResult[][] = tenants.map(() => []);
  let interrupted = false;
  // Each tenant's days before its first day: one `skipped` result for all of them, never a loop
  // over a range that may reach back centuries. Tenants with billable days go into groups of up
  // to BATCH_DAYS; a group is billed day by day, each day of all its tenants in one batch.
  const groups: { index: number; start: Day }[][] = [];
  for (const [index, tenant] of tenants.entries()) {
    const firstDay = night.get(tenant.id)?.firstDay;
    let start: Day | undefined;
    if (firstDay !== undefined && firstDay <= to) start = [firstDay, from].sort()[1]; // the later one
    if (start === undefined || start > from) {
      const through = start === undefined ? to : addDays(start, -1);
      runsTotal.inc({ trigger: input.trigger, outcome: 'skipped' }, dayCount(from, through));
      perTenant[index]?.push({
        tenantId: tenant.id,
        day: from,
        ...(through === from ? {} : { through }),
        outcome: { status: 'skipped', reason: 'before-first-day' },
      });
      done += dayCount(from, through);
      input.onProgress?.({ done, total, tenantId: tenant.id, day: through });
    }
    if (start === undefined) continue;
    const last = groups[groups.length - 1];
    if (last && last.length < BATCH_DAYS) last.push({ index, start });
    else groups.push([{ index, start }]);
  }

  const billGroup = async (g: number): Promise<void> => {
    const group = groups[g] as { index: number; start: Day }[];
    const first = group.map((t) => t.start).sort()[0] as Day;
    for (let day = first; day <= to; day = addDays(day, 1)) {
      if (input.signal?.aborted) {
        interrupted = true;
        return;
      }
      const batch = group.filter((t) => t.start <= day).map((t) => t.index);
      const billed = await billDays(
        db,
        batch.map((index) => {
          const tenant = tenants[index] as Tenant;
          const known = night.get(tenant.id);
          return {
            tenantId: tenant.id,
            day,
            trigger: input.trigger,
            now: input.now,
            dryRun: input.dryRun ?? false,
            ...(known ? { known } : {}),
            ...(input.maxDiffRows !== undefined ? { maxDiffRows: input.maxDiffRows } : {}),
          };
        }),
        logger,
      );
      for (const [k, index] of batch.entries()) {
        const tenantId = (tenants[index] as Tenant).id;
        const r = billed[k] as DayBilled;
        if ('outcome' in r) perTenant[index]?.push({ tenantId, day, outcome: r.outcome });
        else {
          logger?.error({ tenantId, day, err: r.error }, 'tenant-day failed');
          perTenant[index]?.push({ tenantId, day, error: r.error });
        }
        done += 1;
        input.onProgress?.({ done, total, tenantId, day });
      }
    }
  };
  await inLanes(groups.length, input.concurrency ?? 1, billGroup, () => interrupted);
  return { tenants, results: perTenant.flat(), interrupted };
}

/**
 * Calls `work(0)` … `work(count - 1)`, at most `lanes` at a time, in index order; stops taking
 * new indexes once `stop()` is true.
 */
async function inLanes(
  count: number,
  lanes: number,
  work: (index: number) => Promise<void>,
  stop: () => boolean,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count && !stop()) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, count)) }, lane));
}

/**
 * Refuses the range when its last day is not billable at `now` for the tenant, naming the first
 * day that is not (billability grows with the day, so one comparison per tenant, not per day).
 */
function refuseUnbillable(tenant: Tenant, from: Day, to: Day, now: Date): void {
  const latest = latestBillableDay(now, tenant.timezone, tenant.cutoffHour);
  if (to <= latest) return;
  const first = from > latest ? from : addDays(latest, 1);
  throw new DayNotBillableError(tenant.id, first, billableAt(first, tenant.timezone, tenant.cutoffHour));
}

/** The failed tenant-days of a range, for the final "exit 1 naming every failed day" message. */
export function failedDays(result: BillRangeResult): { tenantId: string; day: Day; error: Error }[] {
  return result.results.filter((r): r is { tenantId: string; day: Day; error: Error } => 'error' in r);
}
