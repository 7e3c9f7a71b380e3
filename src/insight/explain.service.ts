import type { Db } from '../db/database.ts';
import { listPriceBooksFor } from '../db/repositories/price-book.repository.ts';
import { listRuns } from '../db/repositories/run.repository.ts';
import {
  listUserActivity,
  listUserAdjustments,
  listUserDayLogins,
  listUserLinesOfRuns,
  listUserVersions,
  type UserAdjustment,
  type UserRunLine,
  type UserVersion,
} from '../db/repositories/user-charges.repository.ts';
import { inReadOnlySnapshot } from '../db/transaction.ts';
import { type Day, dayBounds, dayRange, monthDays, monthOf } from '../domain/calendar.ts';
import {
  type DayDerivation,
  deriveUserDay,
  type ExplainedVersion,
  type Proration,
} from '../domain/charge-explanation.ts';
import { MissingPriceError } from '../domain/charge-lines.ts';
import { sumMinor } from '../domain/money.ts';
import { type PriceBook, priceBookInForce } from '../domain/price-book.ts';
import type { Run } from '../domain/run.ts';
import type { BillingMode, License } from '../domain/settings.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { NotFoundError } from './errors.ts';
import { billableRange, requireBillableDay, requireMonth, requireTenant } from './insight-range.ts';

/** At most this many login events are shown per user-day. */
export const MAX_EVIDENCE_EVENTS = 10;

export interface ExplainQuery {
  tenantId: string;
  userId: string;
  /** Exactly one of day (`YYYY-MM-DD`) and month (`YYYY-MM`). */
  day?: string | undefined;
  month?: string | undefined;
  /** The business clock: which days are billable. */
  now: Date;
}

export interface ExplainedLineView {
  item: string;
  billing: string;
  unitPrice: number;
  amount: number;
  priceBookId: string;
  proration: Proration | null;
  explanation: string;
}

/** A stored settings version as the explanation shows it: its instant as ISO text, and whether it decided the day. */
export type ExplainedVersionView = Omit<UserVersion, 'effectiveAt'> & {
  effectiveAt: string;
  chosen: boolean;
};

export interface ExplainedDay {
  day: Day;
  license: License | null;
  billing: BillingMode | null;
  recording: boolean | null;
  /** The licensing rules behind the license (of the chosen version). */
  reasons: string[];
  billingWhy: string | null;
  recordingWhy: string | null;
  versions: ExplainedVersionView[];
  activity: {
    firstLoginAt: string;
    lastLoginAt: string;
    loginCount: number;
    events: Array<{ eventId: string; occurredAt: string; source: string; receivedAt: string }>;
  } | null;
  priceBook: { id: string; validFrom: string } | null;
  runId: string | null;
  run: { id: string; trigger: string; inputRevision: number } | null;
  dryRun: boolean;
  /** The run predates a later change of the input: its lines differ from the derivation now. */
  stale: boolean;
  lines: ExplainedLineView[];
  notBilled: string | null;
}

export interface ChargeExplanation {
  tenantId: string;
  userId: string;
  currency: string;
  days: ExplainedDay[];
  adjustments: UserAdjustment[];
  /** Sum of the lines of the days shown (billed and dry-run), minor units. */
  total: number;
}

/**
 * `billing explain` / `GET /v1/users/:userId/charges`: why a user was (or was not) billed, day
 * by day, read in one read-only snapshot. A day with a current run shows that run's lines of the
 * user, each with the derivation from the reference rules (`deriveUserDay`); a billable day
 * without a run shows what a dry run computes (`dryRun: true`, nothing written). A month covers
 * its days from the tenant's first day up to its latest billable day.
 * Throws NotFoundError (unknown tenant or user) and InputError (bad or out-of-range day/month).
 */
export async function explainCharges(db: Db, q: ExplainQuery): Promise<ChargeExplanation> {
  if ((q.day === undefined) === (q.month === undefined)) {
    throw new InputError('give exactly one of --day D and --month YYYY-MM');
  }
  return inReadOnlySnapshot(db, async (trx) => {
    const tenant = await requireTenant(trx, q.tenantId);
    const range = await billableRange(trx, tenant, q.now);
    let days: Day[];
    if (q.day !== undefined) {
      days = [requireBillableDay(q.day, tenant, range)];
    } else {
      const month = requireMonth(q.month as string, tenant, q.now);
      const all = monthDays(month);
      const from = range.first !== undefined && range.first > (all[0] as Day) ? range.first : (all[0] as Day);
      const to = range.last < (all.at(-1) as Day) ? range.last : (all.at(-1) as Day);
      if (range.first === undefined || range.first > (all.at(-1) as Day)) {
        throw new InputError(
          `month ${month} is before tenant "${tenant.id}"'s first day (${range.first ?? 'none: no settings yet'})`,
          'DAY_OUT_OF_RANGE',
        );
      }
      days = dayRange(from, to);
    }
    const versions = await listUserVersions(trx, tenant.id, q.userId);
    if (versions.length === 0) {
      throw new NotFoundError(`unknown user "${q.userId}" of tenant "${tenant.id}"`, 'UNKNOWN_USER');
    }
    const explained =
      days.length === 0 ? [] : await explainDays(trx, tenant, q.userId, days, versions.map(toExplained));
    const adjustments = await listUserAdjustments(
      trx,
      tenant.id,
      q.userId,
      q.day !== undefined ? { day: q.day } : { period: q.month as string },
    );
    return {
      tenantId: tenant.id,
      userId: q.userId,
      currency: tenant.currency,
      days: explained,
      adjustments,
      total: sumMinor(explained.flatMap((d) => d.lines.map((l) => l.amount))),
    };
  });
}

const toExplained = (v: UserVersion): ExplainedVersion & { stored: UserVersion } => ({
  effectiveAt: v.effectiveAt,
  active: v.active,
  license: v.license as License,
  billing: v.billing as BillingMode,
  recordCalls: v.recordCalls,
  requestedBilling: typeof v.settings.billing === 'string' ? v.settings.billing : v.billing,
  reasons: v.reasons,
  settings: v.settings,
  stored: v,
});

async function explainDays(
  trx: Db,
  tenant: Tenant,
  userId: string,
  days: readonly Day[],
  versions: ReadonlyArray<ExplainedVersion & { stored: UserVersion }>,
): Promise<ExplainedDay[]> {
  const from = days[0] as Day;
  const to = days.at(-1) as Day;
  const books = await listPriceBooksFor(trx, tenant.id);
  const runs = new Map<Day, Run>();
  // Every day explained lies in one month (one day, or days of one month).
  for (const r of await listRuns(trx, { tenantId: tenant.id, month: monthOf(from) })) {
    if (r.day >= from && r.day <= to) runs.set(r.day, r);
  }
  const linesByRun = new Map<string, UserRunLine[]>();
  for (const l of await listUserLinesOfRuns(
    trx,
    [...runs.values()].map((r) => r.id),
    userId,
  )) {
    const list = linesByRun.get(l.runId) ?? [];
    list.push(l);
    linesByRun.set(l.runId, list);
  }
  const activity = new Map((await listUserActivity(trx, tenant.id, userId, from, to)).map((a) => [a.day, a]));
  const out: ExplainedDay[] = [];
  for (const day of days) {
    const run = runs.get(day);
    const act = activity.get(day);
    let book: PriceBook | undefined;
    let derivation: DayDerivation | undefined;
    let failure: string | undefined;
    try {
      book = priceBookInForce(books, tenant.id, day);
      derivation = deriveUserDay({
        day,
        bounds: dayBounds(day, tenant.timezone),
        versions,
        active: act !== undefined,
        prices: book,
        currency: tenant.currency,
      });
    } catch (error) {
      if (!(error instanceof MissingPriceError) && !(error instanceof Error && 'code' in error)) throw error;
      failure = `the day cannot be billed: ${(error as Error).message}`;
      derivation = deriveUserDay({
        day,
        bounds: dayBounds(day, tenant.timezone),
        versions,
        active: false,
        prices: undefined,
        currency: tenant.currency,
      });
    }
    const chosen = derivation.chosen;
    const derived: ExplainedLineView[] = derivation.lines.map((l) => ({
      item: l.item,
      billing: l.billing,
      unitPrice: l.unitPrice,
      amount: l.amount,
      priceBookId: book?.id ?? '',
      proration: l.proration,
      explanation: l.explanation,
    }));
    let lines = derived;
    let stale = false;
    if (run) {
      const stored = linesByRun.get(run.id) ?? [];
      stale = !sameLines(stored, derived);
      lines = stale
        ? stored.map((s) => ({
            item: s.item,
            billing: s.billing,
            unitPrice: s.unitPrice,
            amount: s.amount,
            priceBookId: s.priceBookId,
            proration: null,
            explanation: `as billed by run ${run.id} (input revision ${run.inputRevision}); the input changed since, a re-run would bill: ${describe(derived)}`,
          }))
        : derived.map((l) => ({
            ...l,
            priceBookId: stored.find((x) => x.item === l.item)?.priceBookId ?? l.priceBookId,
          }));
    }
    const daily = derivation.snapshot?.billing === 'daily';
    const events =
      daily && act ? await listUserDayLogins(trx, tenant.id, userId, day, MAX_EVIDENCE_EVENTS) : [];
    out.push({
      day,
      license: derivation.snapshot?.license ?? null,
      billing: derivation.snapshot?.billing ?? null,
      recording: derivation.snapshot?.recording ?? null,
      reasons: chosen ? [...chosen.reasons] : [],
      billingWhy: derivation.billingWhy,
      recordingWhy: derivation.recordingWhy,
      versions: derivation.versions.map((v) => ({
        effectiveAt: v.effectiveAt.toISOString(),
        active: v.active,
        license: v.license,
        billing: v.billing,
        recordCalls: v.recordCalls,
        settings: { ...v.settings },
        reasons: [...v.reasons],
        chosen: v === chosen,
      })),
      activity:
        daily && act
          ? {
              firstLoginAt: act.firstLoginAt.toISOString(),
              lastLoginAt: act.lastLoginAt.toISOString(),
              loginCount: act.loginCount,
              events: events.map((e) => ({
                eventId: e.eventId,
                occurredAt: e.occurredAt.toISOString(),
                source: e.source,
                receivedAt: e.receivedAt.toISOString(),
              })),
            }
          : null,
      priceBook: book && lines.length > 0 ? { id: book.id, validFrom: book.validFrom } : null,
      runId: run?.id ?? null,
      run: run ? { id: run.id, trigger: run.trigger, inputRevision: Number(run.inputRevision) } : null,
      dryRun: run === undefined,
      stale,
      lines,
      notBilled: lines.length > 0 ? null : (failure ?? derivation.notBilled ?? 'no line'),
    });
  }
  return out;
}

function sameLines(stored: readonly UserRunLine[], derived: readonly ExplainedLineView[]): boolean {
  if (stored.length !== derived.length) return false;
  const key = (l: { item: string; billing: string; amount: number; unitPrice: number }) =>
    `${l.item}|${l.billing}|${l.amount}|${l.unitPrice}`;
  const a = stored.map(key).sort();
  const b = derived.map(key).sort();
  return a.every((k, i) => k === b[i]);
}

function describe(lines: readonly ExplainedLineView[]): string {
  return lines.length === 0 ? 'nothing' : lines.map((l) => `${l.item} ${l.billing} ${l.amount}`).join(', ');
}
