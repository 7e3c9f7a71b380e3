import type { Db } from '../db/database.ts';
import { countActiveUsers } from '../db/repositories/day-activity-count.repository.ts';
import { type IngestCountRow, sumIngestCounts } from '../db/repositories/ingest-count.repository.ts';
import {
  countOpenRejectsByDay,
  countUnattributedOpenRejects,
  type DayRunState,
  firstVersionInstants,
  listDayRunStates,
  withoutJit,
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
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
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
 * `reconcileMonth` for several months at once, in one read-only snapshot (see
 * `reconcileTenantMonths`). Each result is exactly what `reconcileMonth` gives for that month.
 */
export async function reconcileMonths(
  db: Db,
  q: Omit<ReconcileQuery, 'month'> & { months: readonly string[] },
): Promise<Reconciliation[]> {
  const jump = requireJump(q.jump);
  return inReadOnlySnapshot(db, async (trx) => {
    const tenants =
      q.tenantId !== undefined ? [await requireTenant(trx, q.tenantId)] : await listTenants(trx);
    for (const month of q.months) requireMonth(month, tenants.length === 1 ? tenants[0] : undefined, q.now);
    const all = await reconcileWithin(trx, tenants, () => q.months, q.now, jump);
    const results: Reconciliation[] = [];
    for (const month of q.months) {
      const monthUtc = monthBounds(month, 'UTC');
      results.push({
        month,
        unattributedRejects: await countUnattributedOpenRejects(
          trx,
          q.tenantId,
          monthUtc.start,
          monthUtc.end,
        ),
        rows: all.filter((m) => m.month === month).flatMap((m) => m.rows),
      });
    }
    return results;
  });
}

/** One tenant's month as `reconcileMonth` gives its rows. */
export interface TenantMonth {
  tenant: Tenant;
  month: string;
  rows: ReconcileRow[];
}

/**
 * Every tenant's months `monthsOf(tenant)` (e.g. its current month in its own zone), in one
 * read-only snapshot, set-based: each kind of fact (runs, activity counts, failures, ingest
 * counts, open rejects per day) is read with one statement for all the tenants whose days span
 * the same range, so the cost is statements x distinct ranges (one per zone and month, in
 * practice) and rows x days: never a statement per tenant. In tenant order, then month order.
 */
export async function reconcileTenantMonths(
  db: Db,
  q: { now: Date; jump?: number; monthsOf: (tenant: Tenant) => readonly string[] },
): Promise<TenantMonth[]> {
  const jump = requireJump(q.jump);
  return inReadOnlySnapshot(db, async (trx) =>
    reconcileWithin(trx, await listTenants(trx), q.monthsOf, q.now, jump),
  );
}

function requireJump(jump: number | undefined): number {
  const j = jump ?? DEFAULT_JUMP;
  if (!Number.isFinite(j) || j < 0) throw new InputError(`--jump: must be a number >= 0, got ${jump}`);
  return j;
}

async function reconcileWithin(
  trx: Db,
  tenants: readonly Tenant[],
  monthsOf: (tenant: Tenant) => readonly string[],
  now: Date,
  jump: number,
): Promise<TenantMonth[]> {
  await withoutJit(trx);
  const firsts = await firstVersionInstants(
    trx,
    tenants.map((t) => t.id),
  );
  const months: Array<{ tenant: Tenant; month: string; span: TenantSpan | undefined }> = [];
  for (const tenant of tenants) {
    const first = firsts.get(tenant.id);
    for (const month of monthsOf(tenant)) {
      months.push({
        tenant,
        month,
        span: spanOf(tenant, month, now, first && dayOf(first, tenant.timezone)),
      });
    }
  }
  const facts = await readFacts(
    trx,
    months.flatMap((m) => (m.span ? [m.span] : [])),
  );
  return months.map(({ tenant, month, span }) => ({
    tenant,
    month,
    rows: span ? reconcileTenant(span, now, jump, facts) : [],
  }));
}

/** The days of one tenant's month that reconcile shows (`from`..`to`) and reads (`historyFrom`..`to`). */
interface TenantSpan {
  tenant: Tenant;
  month: string;
  from: Day;
  to: Day;
  historyFrom: Day;
}

function spanOf(tenant: Tenant, month: string, now: Date, first: Day | undefined): TenantSpan | undefined {
  const all = monthDays(month);
  const today = dayOf(now, tenant.timezone);
  const to = today < (all.at(-1) as Day) ? today : (all.at(-1) as Day);
  if (first === undefined || first > to) return undefined;
  const from = first > (all[0] as Day) ? first : (all[0] as Day);
  return { tenant, month, from, to, historyFrom: addDays(from, -HISTORY_DAYS) };
}

/** What reconcile reads, keyed by `tenant\0day`. */
interface Facts {
  states: Map<string, DayRunState>;
  active: Map<string, number>;
  failures: Map<string, Date>;
  counts: Map<string, IngestCountRow[]>;
  rejects: Map<string, number>;
}

const keyOf = (tenantId: string, day: string) => `${tenantId}\u0000${day}`;

/**
 * The facts of every span: tenants reading the same days are read together (one statement per
 * kind of fact and distinct range), so many tenants cost no more statements than one.
 */
async function readFacts(trx: Db, spans: readonly TenantSpan[]): Promise<Facts> {
  const facts: Facts = {
    states: new Map(),
    active: new Map(),
    failures: new Map(),
    counts: new Map(),
    rejects: new Map(),
  };
  const ranges = new Map<string, { from: Day; historyFrom: Day; to: Day; ids: Set<string> }>();
  for (const s of spans) {
    const k = `${s.historyFrom}/${s.from}/${s.to}`;
    const r = ranges.get(k) ?? { from: s.from, historyFrom: s.historyFrom, to: s.to, ids: new Set<string>() };
    r.ids.add(s.tenant.id);
    ranges.set(k, r);
  }
  for (const { from, historyFrom, to, ids: set } of ranges.values()) {
    const window = { tenantIds: [...set], from, to };
    const history = { ...window, from: historyFrom };
    for (const s of await listDayRunStates(trx, history)) facts.states.set(keyOf(s.tenantId, s.day), s);
    for (const a of await countActiveUsers(trx, history)) facts.active.set(keyOf(a.tenantId, a.day), a.users);
    for (const f of await latestRunFailures(trx, window))
      facts.failures.set(keyOf(f.tenantId, f.day), f.failedAt);
    for (const c of await sumIngestCounts(trx, window)) {
      const k = keyOf(c.tenantId, c.day);
      facts.counts.set(k, [...(facts.counts.get(k) ?? []), c]);
    }
    for (const r of await countOpenRejectsByDay(trx, history))
      facts.rejects.set(keyOf(r.tenantId, r.day), r.open);
  }
  return facts;
}

function reconcileTenant(span: TenantSpan, now: Date, jump: number, facts: Facts): ReconcileRow[] {
  const { tenant, from, to, historyFrom } = span;
  const days = dayRange(historyFrom, to);
  const dayFacts: DayFacts[] = days.map((day) => {
    const k = keyOf(tenant.id, day);
    const state = facts.states.get(k);
    return {
      day,
      status: statusOf(
        state,
        facts.failures.get(k),
        now.getTime() >= billableAt(day, tenant.timezone, tenant.cutoffHour).getTime(),
      ),
      total: state?.currentRunId ? state.total : null,
      activeUsers: facts.active.get(k) ?? 0,
      rejectsOpen: facts.rejects.get(k) ?? 0,
    };
  });
  const anomalies = detectAnomalies(dayFacts, { jump, currency: tenant.currency });
  const rows: ReconcileRow[] = [];
  days.forEach((day, i) => {
    if (day < from) return;
    const f = dayFacts[i] as DayFacts;
    const state = facts.states.get(keyOf(tenant.id, day));
    const accepted = { http: 0, file: 0, stream: 0 };
    let duplicates = 0;
    for (const c of facts.counts.get(keyOf(tenant.id, day)) ?? []) {
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
