import type { SnapshotVersion } from '../../domain/day-snapshot.ts';
import { type LicenseInterval, licenseIntervals } from '../../domain/license-intervals.ts';
import { BinaryCopyRows } from './binary-copy.ts';
import { copyText } from './login-event-copy.repository.ts';
import type { StagedSettingsVersion } from './settings-version-batch.repository.ts';

/*
 * Brand-new users' rows worked out in Node, without the database: their license intervals, each
 * version's successor, and the COPY text of both tables (`settings-version-batch.repository.ts`
 * stores them).
 */

/** A COPY text cell that may be NULL. */
export const nullable = (s: string | null) => (s === null ? '\\N' : copyText(s));

/** One key per (tenant, user). */
export const userKey = (v: { tenantId: string; userId: string }) => `${v.tenantId}\u0000${v.userId}`;

/**
 * What a batch of brand-new users writes, worked out in Node before its transaction (the file
 * import prepares batch N+1 while batch N is stored): their license intervals, each version's
 * successor in the batch and, for COPY, both tables' text. Used when the probe finds every user of
 * the batch new (a first import); otherwise the fresh part is planned again in the transaction.
 */
export interface NewUsersPlan {
  /** The intervals as rows (empty when planned for COPY: then they are only `intervalsText`). */
  intervals: IntervalRow[];
  successors: Map<number, Date>;
  /**
   * Binary COPY data of `settings_versions` / `license_intervals` rows, in input order (only when
   * planned for COPY; `BinaryCopyRows`, empty when there is no row): nothing of the batch lives in
   * V8's heap until it is stored, the bytes sit outside it.
   */
  versionsText?: Buffer;
  intervalsText?: Buffer;
}

export interface IntervalRow {
  tenantId: string;
  userId: string;
  interval: LicenseInterval;
}

/** A `settings_versions` row, in `VERSION_COLUMNS` order (settings-version-batch.repository.ts). */
function addVersionRow(out: BinaryCopyRows, v: StagedSettingsVersion): void {
  out.row(11);
  out.text(v.tenantId);
  out.text(v.userId);
  out.timestamp(v.effectiveAt.getTime());
  out.bool(v.active);
  out.text(v.email);
  out.text(v.lastName);
  out.text(v.settingsJson);
  out.text(v.license);
  out.text(v.billing);
  out.bool(v.recordCalls);
  out.text(v.reasonsJson);
}

/** A `license_intervals` row, in `INTERVAL_COLUMNS` order. */
function addIntervalRow(out: BinaryCopyRows, r: IntervalRow): void {
  out.row(7);
  out.text(r.tenantId);
  out.text(r.userId);
  out.timestamp(r.interval.validFrom.getTime());
  out.timestamp(r.interval.validTo === null ? null : r.interval.validTo.getTime());
  out.text(r.interval.license);
  out.text(r.interval.billing);
  out.bool(r.interval.recordCalls);
}

/**
 * Brand-new users (no stored version, tenants locked): all their versions are in hand, so their
 * intervals are the domain's `licenseIntervals` (the rule migration 0008's recompute follows) and
 * a version's successor is the user's next one. Positions are those in `versions` (all of them
 * when left out). Pure Node: the file import calls it before the batch's transaction. A user with
 * one version (the common case) has one interval when active, none when not: what
 * `licenseIntervals` gives for one version, without its sort and copies. `forCopy`: the COPY text
 * of both tables is made too.
 */
export function planNewUsers(
  versions: readonly StagedSettingsVersion[],
  positions?: readonly number[],
  forCopy = false,
): NewUsersPlan {
  const byUser = new Map<string, number | number[]>();
  const add = (i: number) => {
    const key = userKey(versions[i] as StagedSettingsVersion);
    const seen = byUser.get(key);
    if (seen === undefined) byUser.set(key, i);
    else if (typeof seen === 'number') byUser.set(key, [seen, i]);
    else seen.push(i);
  };
  if (positions) for (const i of positions) add(i);
  else for (let i = 0; i < versions.length; i++) add(i);
  // For COPY the intervals go straight into their text (no row objects kept for the batch).
  const intervals: IntervalRow[] = [];
  const intervalsText = new BinaryCopyRows();
  const addInterval = (r: IntervalRow) => {
    if (forCopy) addIntervalRow(intervalsText, r);
    else intervals.push(r);
  };
  const successors = new Map<number, Date>();
  for (const entry of byUser.values()) {
    if (typeof entry === 'number') {
      const v = versions[entry] as StagedSettingsVersion;
      if (!v.active) continue;
      addInterval({
        tenantId: v.tenantId,
        userId: v.userId,
        interval: {
          validFrom: v.effectiveAt,
          validTo: null,
          license: v.license as LicenseInterval['license'],
          billing: v.billing as LicenseInterval['billing'],
          recordCalls: v.recordCalls,
        },
      });
      continue;
    }
    const list = entry;
    const first = versions[list[0] as number] as StagedSettingsVersion;
    list.sort(
      (a, b) => (versions[a]?.effectiveAt.getTime() ?? 0) - (versions[b]?.effectiveAt.getTime() ?? 0),
    );
    for (let k = 0; k + 1 < list.length; k++) {
      successors.set(
        list[k] as number,
        (versions[list[k + 1] as number] as StagedSettingsVersion).effectiveAt,
      );
    }
    for (const interval of licenseIntervals(list.map((i) => versions[i] as unknown as SnapshotVersion))) {
      addInterval({ tenantId: first.tenantId, userId: first.userId, interval });
    }
  }
  const plan: NewUsersPlan = { intervals, successors };
  if (forCopy) {
    const versionsText = new BinaryCopyRows();
    if (positions)
      for (const i of positions) addVersionRow(versionsText, versions[i] as StagedSettingsVersion);
    else for (const v of versions) addVersionRow(versionsText, v);
    plan.versionsText = versionsText.bytes();
    plan.intervalsText = intervalsText.bytes();
  }
  return plan;
}
