import { tenantFirstDay } from '../billing/tenant-first-day.ts';
import type { Db } from '../db/database.ts';
import { countActiveUsers } from '../db/repositories/day-activity-count.repository.ts';
import { sumIngestCounts } from '../db/repositories/ingest-count.repository.ts';
import {
  type DayRunState,
  listDayRunStates,
  listOpenRejects,
} from '../db/repositories/reconcile.repository.ts';
import { latestRunFailures } from '../db/repositories/run-failure.repository.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import { inReadOnlySnapshot } from '../db/transaction.ts';
import { type Anomaly, type DayFacts, type DayStatus, detectAnomalies } from '../domain/anomalies.ts';
import {
  addDays,
  billableAt,
  type Day,
  dayOf,
  dayRange,
  monthBounds,
  monthDays,
} from '../domain/calendar.ts';
import { rejectDay } from '../domain/reject-attribution.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { TenantDayCache } from '../ingest/tenant-day-cache.ts';
import { requireMonth, requireTenant } from './insight-range.ts';

export const DEFAULT_JUMP = 0.3;
/** Days read before the month so that its first days have a history for the anomaly rules. */
const HISTORY_DAYS = 31;

export interface ReconcileQuery {
  month: string;
  tenantId?: string | undefined;
  /** total-jump threshold (relative, default 0.3). */
  jump?: number;
  now: Date;
}

export interface ReconcileRow {
  tenantId: string;
  day: Day;
  currency: string;
  accepted: { http: number; file: number; stream: number };
  duplicates: number;
  rejectsOpen: number;
  activeUsers: number;
  runId: string | null;
  lines: number;
  total: number;
  status: DayStatus;
  anomalies: Anomaly[];
}

export interface Reconciliation {
  month: string;
  unattributedRejects: number;
  rows: ReconcileRow[];
}

/**
 * `billing reconcile`: one row per tenant-day of `month` (from the tenant's first day up to
 * today in its zone): events accepted per source and re-deliveries (summed from the per-batch
 * `ingest_counts`), open rejects attributed to the day, active users, the current run's lines
 * and total, the run status at `now` and the anomalies (`detectAnomalies`). Rejects that cannot
 * be attributed to a tenant-day (no tenant, unknown tenant, no readable instant) and were
 * received during the month (UTC) are counted once in `unattributedRejects`. Reads only, in one
 * read-only snapshot. InputError for a malformed or future month, NotFoundError for an unknown
 * tenant.
 */
export async function reconcileMonth(db: Db, q: ReconcileQuery): Promise<Reconciliation> {
  const { month, ...rest } = q;
  return (await reconcileMonths(db, { ...rest, months: [month] }))[0] as Reconciliation;
}

/**
 * `reconcileMonth` for several months at once, in one read-only snapshot: the open rejects are
 * read and attributed once for all of them (the console's overview shows two months per tenant).
 * Each result is exactly what `reconcileMonth` gives for that month.
 */
export async function reconcileMonths(
  db: Db,
  q: Omit<ReconcileQuery, 'month'> & { months: readonly string[] },
): Promise<Reconciliation[]> {
  const jump = q.jump ?? DEFAULT_JUMP;
  if (!Number.isFinite(jump) || jump < 0)
    throw new InputError(`--jump: must be a number >= 0, got ${q.jump}`);
  return inReadOnlySnapshot(db, async (trx) => {
    const tenants =
      q.tenantId !== undefined ? [await requireTenant(trx, q.tenantId)] : await listTenants(trx);
    for (const month of q.months) requireMonth(month, tenants.length === 1 ? tenants[0] : undefined, q.now);
    const rejects = await listOpenRejects(trx, q.tenantId);
    const zones = new Map(tenants.map((t) => [t.id, t.timezone]));
    const attributed = new Map<string, number>();
    const unattributedAt: Date[] = [];
    const days = new TenantDayCache();
    const dayOfMs = (ms: number, zone: string) => days.dayOf(ms, zone);
    for (const r of rejects) {
      const zone = r.tenantId === null ? undefined : zones.get(r.tenantId);
      const day = zone === undefined ? undefined : rejectDay(r.rawHead, zone, dayOfMs);
      if (day !== undefined) {
        const key = `${r.tenantId}\u0000${day}`;
        attributed.set(key, (attributed.get(key) ?? 0) + 1);
      } else {
        unattributedAt.push(r.receivedAt);
      }
    }
    const results: Reconciliation[] = [];
    for (const month of q.months) {
      const monthUtc = monthBounds(month, 'UTC');
      const unattributed = unattributedAt.filter((at) => at >= monthUtc.start && at < monthUtc.end).length;
      const rows: ReconcileRow[] = [];
      for (const tenant of tenants) {
        rows.push(...(await reconcileTenant(trx, tenant, month, q.now, jump, attributed)));
      }
      results.push({ month, unattributedRejects: unattributed, rows });
    }
    return results;
  });
}

async function reconcileTenant(
  trx: Db,
  tenant: Tenant,
  month: string,
  now: Date,
  jump: number,
  rejectsByDay: ReadonlyMap<string, number>,
): Promise<ReconcileRow[]> {
  const first = await tenantFirstDay(trx, tenant);
  const all = monthDays(month);
  const today = dayOf(now, tenant.timezone);
  const to = today < (all.at(-1) as Day) ? today : (all.at(-1) as Day);
  if (first === undefined || first > to) return [];
  const from = first > (all[0] as Day) ? first : (all[0] as Day);
  const historyFrom = addDays(from, -HISTORY_DAYS);
  const ids = [tenant.id];
  const states = new Map((await listDayRunStates(trx, ids, historyFrom, to)).map((s) => [s.day, s]));
  const active = new Map((await countActiveUsers(trx, ids, historyFrom, to)).map((a) => [a.day, a.users]));
  const failures = new Map((await latestRunFailures(trx, ids, from, to)).map((f) => [f.day, f]));
  const counts = await sumIngestCounts(trx, ids, from, to);
  const days = dayRange(historyFrom, to);
  const facts: DayFacts[] = days.map((day) => {
    const state = states.get(day);
    const failedAt = failures.get(day)?.failedAt;
    return {
      day,
      status: statusOf(
        state,
        failedAt,
        now.getTime() >= billableAt(day, tenant.timezone, tenant.cutoffHour).getTime(),
      ),
      total: state?.currentRunId ? state.total : null,
      activeUsers: active.get(day) ?? 0,
      rejectsOpen: rejectsByDay.get(`${tenant.id}\u0000${day}`) ?? 0,
    };
  });
  const anomalies = detectAnomalies(facts, { jump, currency: tenant.currency });
  const rows: ReconcileRow[] = [];
  days.forEach((day, i) => {
    if (day < from) return;
    const f = facts[i] as DayFacts;
    const state = states.get(day);
    const accepted = { http: 0, file: 0, stream: 0 };
    let duplicates = 0;
    for (const c of counts) {
      if (c.day !== day) continue;
      if (c.source === 'http' || c.source === 'file' || c.source === 'stream')
        accepted[c.source] += c.accepted;
      duplicates += c.duplicates;
    }
    rows.push({
      tenantId: tenant.id,
      day,
      currency: tenant.currency,
      accepted,
      duplicates,
      rejectsOpen: f.rejectsOpen,
      activeUsers: f.activeUsers,
      runId: state?.currentRunId ?? null,
      lines: state?.currentRunId ? state.lineCount : 0,
      total: f.total ?? 0,
      status: f.status,
      anomalies: anomalies[i] as Anomaly[],
    });
  });
  return rows;
}

/**
 * The run status of a tenant-day: failed when an attempt failed after the latest run; else
 * billed or stale when it has a current run (stale: its revision is above what the runs read);
 * else missing when due, pending when not.
 */
function statusOf(state: DayRunState | undefined, failedAt: Date | undefined, due: boolean): DayStatus {
  if (failedAt !== undefined && (!state?.lastRunAt || failedAt > state.lastRunAt)) return 'failed';
  if (state?.currentRunId) {
    return state.revision > (state.maxRunRevision ?? 0) ? 'stale' : 'billed';
  }
  return due ? 'missing' : 'pending';
}
