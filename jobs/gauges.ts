import type { Queue } from 'bullmq';
import { billingLag } from '../src/billing/due-days.service.ts';
import type { Db } from '../src/db/database.ts';
import { ANOMALY_CODES } from '../src/domain/anomalies.ts';
import { dayOf, monthOf } from '../src/domain/calendar.ts';
import { reconcileTenantMonths } from '../src/insight/reconcile.service.ts';
import { billingAnomalies, billingLagDays, queueJobs } from '../src/metrics.ts';

const STATES = ['waiting', 'active', 'failed', 'delayed'] as const;

/** Sets billing_queue_jobs{queue,state} from the queues' counts. */
export async function updateQueueGauges(queues: readonly Queue[]): Promise<void> {
  for (const queue of queues) {
    const counts = await queue.getJobCounts(...STATES);
    for (const state of STATES) queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
  }
}

/**
 * Sets billing_lag_days{tenant} at instant `now` (the planning instant, or the scrape instant in
 * `serve`): days from the oldest billable day without a current run to the latest billable day.
 * Tenants that no longer have a lag entry disappear (the gauge is rebuilt in one synchronous step).
 */
export async function updateLagGauge(db: Db, now: Date): Promise<void> {
  const lag = await billingLag(db, now);
  billingLagDays.reset();
  for (const { tenantId, days } of lag) billingLagDays.set({ tenant: tenantId }, days);
}

/**
 * Sets billing_anomalies{tenant,code} at instant `now`: per tenant, how many days of its current
 * month (in its zone) show each anomaly of `billing reconcile` (0 for codes not seen, so alerts
 * can use `> 0`). Reads only, set-based (`reconcileTenantMonths`: the statements do not grow with
 * the tenants); the gauge is rebuilt in one synchronous step at the end.
 */
export async function updateAnomalyGauge(db: Db, now: Date): Promise<void> {
  const counts: Array<{ tenant: string; code: string; n: number }> = [];
  const months = await reconcileTenantMonths(db, {
    now,
    monthsOf: (tenant) => [monthOf(dayOf(now, tenant.timezone))],
  });
  for (const { tenant, rows } of months) {
    for (const code of ANOMALY_CODES) {
      counts.push({
        tenant: tenant.id,
        code,
        n: rows.filter((r) => r.anomalies.some((a) => a.code === code)).length,
      });
    }
  }
  billingAnomalies.reset();
  for (const c of counts) billingAnomalies.set({ tenant: c.tenant, code: c.code }, c.n);
}
