import { type Day, dayOfMonth, daysInMonth, type Interval } from './calendar.ts';
import { type ChargeLine, chargeLinesForDay } from './charge-lines.ts';
import { type DaySnapshot, daySnapshot, type SnapshotVersion, versionsTouching } from './day-snapshot.ts';
import { formatMinor, type Minor } from './money.ts';
import type { PriceBook } from './price-book.ts';
import { monthlyShare } from './proration.ts';
import { licenseRank } from './settings.ts';

/** A stored settings version with what explain shows of it. */
export interface ExplainedVersion extends SnapshotVersion {
  /** The billing mode the settings ask for (the effective one is `billing`). */
  requestedBilling: string;
  reasons: readonly string[];
  settings: Readonly<Record<string, unknown>>;
}

export interface Proration {
  d: number;
  n: number;
  formula: 'floor(P*d/n) - floor(P*(d-1)/n)';
  /** P = the monthly price, minor units. */
  value: Minor;
}

export interface ExplainedLine extends ChargeLine {
  proration: Proration | null;
  explanation: string;
}

export interface DayDerivation {
  /** Versions in force at some moment of the day (active or not), oldest first. */
  versions: ExplainedVersion[];
  /** The version whose license and billing the day takes; undefined when nobody is billed. */
  chosen: ExplainedVersion | undefined;
  snapshot: DaySnapshot | undefined;
  billingWhy: string | null;
  recordingWhy: string | null;
  lines: ExplainedLine[];
  /** Why the user has no line that day; null when there are lines. */
  notBilled: string | null;
}

const RECORDING_ADDON_LICENSES = new Set(['standard', 'professional']);

/**
 * The derivation of one user's charge lines on one day, from the same reference rules billing is
 * checked against (`daySnapshot`, `chargeLinesForDay`): which versions were in force, the version
 * chosen (the latest active version holding the day's highest license), why the billing mode
 * and the recording add-on, each line with its price and (monthly) proration, or why there is
 * no line. `versions`: all of the user's versions (any order); `bounds`: the day's instants in
 * the tenant's zone; `active`: the user logged in that day. Amounts in minor units.
 * Throws MissingPriceError like `chargeLinesForDay` when a needed price is missing.
 */
export function deriveUserDay(input: {
  day: Day;
  bounds: Interval;
  versions: readonly ExplainedVersion[];
  active: boolean;
  prices: PriceBook | undefined;
  currency: string;
}): DayDerivation {
  const touching = versionsTouching(input.versions, input.bounds);
  const activeVersions = touching.filter((v) => v.active);
  let chosen: ExplainedVersion | undefined;
  for (const v of activeVersions) {
    if (chosen === undefined || licenseRank(v.license) >= licenseRank(chosen.license)) chosen = v;
  }
  const snapshot = daySnapshot(input.versions, input.bounds);
  const lines = chargeLinesForDay({
    day: input.day,
    snapshot,
    active: input.active,
    prices: input.prices,
    currency: input.currency,
  }).map((l) => explainLine(input.day, l, input.prices as PriceBook, input.currency));
  const at = (v: SnapshotVersion) => v.effectiveAt.toISOString();
  let notBilled: string | null = null;
  if (touching.length === 0) {
    const later = [...input.versions]
      .sort((a, b) => a.effectiveAt.getTime() - b.effectiveAt.getTime())
      .find((v) => v.effectiveAt.getTime() >= input.bounds.end.getTime());
    notBilled = later
      ? `no settings version in force: the user's first version takes effect at ${at(later)}, after this day`
      : 'no settings version in force that day';
  } else if (!snapshot || !chosen) {
    notBilled = `inactive all day: every version in force that day (${touching.map(at).join(', ')}) has active = false`;
  } else if (lines.length === 0) {
    notBilled = `billed daily (${snapshot.license}) and no login that day`;
  }
  return {
    versions: touching,
    chosen,
    snapshot,
    billingWhy: chosen && snapshot ? billingWhy(chosen, snapshot) : null,
    recordingWhy: chosen && snapshot ? recordingWhy(activeVersions, snapshot) : null,
    lines,
    notBilled,
  };
}

function billingWhy(chosen: ExplainedVersion, s: DaySnapshot): string {
  const from = `the version effective at ${chosen.effectiveAt.toISOString()}`;
  if (chosen.requestedBilling === 'daily' && s.billing === 'monthly') {
    return `monthly: ${from} asks for daily billing, but ${s.license} can only be billed monthly`;
  }
  return `${s.billing}: as ${from} (the latest holding ${s.license}) asks`;
}

function recordingWhy(active: readonly ExplainedVersion[], s: DaySnapshot): string {
  const recording = active.filter((v) => v.recordCalls).map((v) => v.effectiveAt.toISOString());
  if (s.recording) {
    return `charged: ${s.license} takes the recording add-on and the version(s) effective at ${recording.join(', ')} record calls`;
  }
  if (!RECORDING_ADDON_LICENSES.has(s.license)) {
    return recording.length > 0
      ? `not charged: recording is included in ${s.license}`
      : `not charged: no version in force records calls (and ${s.license} includes recording)`;
  }
  return 'not charged: no active version in force that day records calls';
}

function explainLine(day: Day, line: ChargeLine, book: PriceBook, currency: string): ExplainedLine {
  const money = (a: Minor) => `${formatMinor(a, currency)} ${currency}`;
  const source = `book ${book.id} (valid from ${book.validFrom})`;
  if (line.billing === 'daily') {
    return {
      ...line,
      proration: null,
      explanation: `daily price ${money(line.unitPrice)} of ${source}; the user logged in that day`,
    };
  }
  const d = dayOfMonth(day);
  const n = daysInMonth(day);
  const value = monthlyShare(line.unitPrice, d, n);
  const p = BigInt(line.unitPrice);
  const hi = (p * BigInt(d)) / BigInt(n);
  const lo = (p * BigInt(d - 1)) / BigInt(n);
  return {
    ...line,
    proration: { d, n, formula: 'floor(P*d/n) - floor(P*(d-1)/n)', value },
    explanation: `monthly price ${money(line.unitPrice)} of ${source}, day ${d} of ${n}: floor(${line.unitPrice}*${d}/${n}) - floor(${line.unitPrice}*${d - 1}/${n}) = ${hi} - ${lo} = ${value}`,
  };
}
