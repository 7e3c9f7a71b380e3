import type { Db, RunTrigger } from '../db/database.ts';
import type { Tenant } from '../db/repositories/tenant.repository.ts';
import { billableAt, type Day } from '../domain/calendar.ts';
import type { Logger } from '../logger.ts';
import { type BillDayOutcome, billDay } from './bill-day.service.ts';
import { DayNotBillableError } from './errors.ts';
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
  /** Checked between tenant-days: an abort stops the range cleanly (each tenant-day is atomic). */
  signal?: AbortSignal;
}

export type DayResult =
  | { tenantId: string; day: Day; outcome: BillDayOutcome }
  | { tenantId: string; day: Day; error: Error };

export interface BillRangeResult {
  /** The tenants of the range (for their currency and zone). */
  tenants: Tenant[];
  results: DayResult[];
  /** True when `signal` stopped the range before its end; `results` holds what was done. */
  interrupted: boolean;
}

/**
 * Bills (or, with `dryRun`, diffs) every tenant-day of an inclusive range, one transaction per
 * tenant-day through `billDay`, tenants in id order, days oldest first. Refuses the whole range
 * up front (DayNotBillableError, exit 2, naming the first such day) when a day is not billable
 * at `now` for a tenant, and with InputError for a malformed or inverted range (`resolveTenantDays`). Days before a tenant's
 * first day come back as `skipped`. A day that fails does not stop the others: its error is in
 * its result, and the caller decides the exit status.
 */
export async function billRange(db: Db, input: BillRangeInput, logger?: Logger): Promise<BillRangeResult> {
  const { tenants, days } = await resolveTenantDays(db, input);
  for (const tenant of tenants) refuseUnbillable(tenant, days, input.now);

  const total = tenants.length * days.length;
  const results: DayResult[] = [];
  for (const tenant of tenants) {
    for (const day of days) {
      if (input.signal?.aborted) return { tenants, results, interrupted: true };
      try {
        const outcome = await billDay(
          db,
          {
            tenantId: tenant.id,
            day,
            trigger: input.trigger,
            now: input.now,
            dryRun: input.dryRun ?? false,
            ...(input.maxDiffRows !== undefined ? { maxDiffRows: input.maxDiffRows } : {}),
          },
          logger,
        );
        results.push({ tenantId: tenant.id, day, outcome });
      } catch (error) {
        logger?.error({ tenantId: tenant.id, day, err: error }, 'tenant-day failed');
        results.push({
          tenantId: tenant.id,
          day,
          error: error instanceof Error ? error : new Error(String(error)),
        });
      }
      input.onProgress?.({ done: results.length, total, tenantId: tenant.id, day });
    }
  }
  return { tenants, results, interrupted: false };
}

function refuseUnbillable(tenant: Tenant, days: readonly Day[], now: Date): void {
  for (const day of days) {
    const at = billableAt(day, tenant.timezone, tenant.cutoffHour);
    if (at.getTime() > now.getTime()) throw new DayNotBillableError(tenant.id, day, at);
  }
}

/** The failed tenant-days of a range, for the final "exit 1 naming every failed day" message. */
export function failedDays(result: BillRangeResult): { tenantId: string; day: Day; error: Error }[] {
  return result.results.filter((r): r is { tenantId: string; day: Day; error: Error } => 'error' in r);
}
