import type { Interval } from './calendar.ts';
import { DomainError } from './errors.ts';
import { type BillingMode, type License, licenseRank } from './settings.ts';

/** What the day snapshot needs of one settings version; repositories may pass richer objects. */
export interface SnapshotVersion {
  effectiveAt: Date;
  /** false: the user is removed from `effectiveAt` on and holds no license. */
  active: boolean;
  /** License resolved from this version's settings (`resolveLicense`). */
  license: License;
  /** The EFFECTIVE billing mode of this version (already `monthly` for licenses that cannot be daily). */
  billing: BillingMode;
  recordCalls: boolean;
}

/** What a user is billed for on one day. */
export interface DaySnapshot {
  license: License;
  billing: BillingMode;
  /** The recording add-on is charged (only ever with `standard` or `professional`). */
  recording: boolean;
}

const RECORDING_ADDON_LICENSES: ReadonlySet<License> = new Set(['standard', 'professional']);

/**
 * The versions of one user that touch `day`: a version is in force on [its effectiveAt, the
 * next version's effectiveAt) and touches the day when it starts before the day ends and its
 * successor (if any) starts strictly after the day starts. Result in effectiveAt order; active
 * and inactive versions alike. Two versions at the same instant are refused: the key
 * (tenant, user, effectiveAt) is unique, so that would be corrupt input.
 */
export function versionsTouching<V extends SnapshotVersion>(versions: readonly V[], day: Interval): V[] {
  const sorted = [...versions].sort((a, b) => a.effectiveAt.getTime() - b.effectiveAt.getTime());
  const dayStart = day.start.getTime();
  const dayEnd = day.end.getTime();
  const touching: V[] = [];
  sorted.forEach((version, i) => {
    const start = version.effectiveAt.getTime();
    if (Number.isNaN(start))
      throw new DomainError('INVALID_VERSION', 'a settings version has an invalid effectiveAt');
    const next = sorted[i + 1]?.effectiveAt.getTime();
    if (next === start) {
      throw new DomainError(
        'INVALID_VERSION',
        `two settings versions at ${version.effectiveAt.toISOString()}`,
      );
    }
    if (start < dayEnd && (next === undefined || next > dayStart)) touching.push(version);
  });
  return touching;
}

/**
 * Reference of the rule "the day snapshot"; production twin: `dayItemsSql` in
 * `src/db/repositories/day-lines.repository.ts` (a day of a million users is billed in one
 * statement); kept equal by `test/integration/bill-day-differential.test.ts`. Change both at once.
 *
 * The day snapshot of `docs/billing.md` for one user and one day (`day`: the day's instants, from
 * `dayBounds`). `versions` may come in any order. Only active versions in force at some moment
 * of the day count:
 * - none: undefined, the user is not billed that day;
 * - license: the highest of them, so a downgrade before midnight does not lower the day's price;
 * - billing: that of the latest version holding that license;
 * - recording: the license is standard or professional and any of them records calls.
 * Example: professional until 00:01, then standard: the day is professional.
 */
export function daySnapshot(versions: readonly SnapshotVersion[], day: Interval): DaySnapshot | undefined {
  const active = versionsTouching(versions, day).filter((v) => v.active);
  if (active.length === 0) return undefined;
  let top = active[0] as SnapshotVersion;
  for (const v of active) {
    // `>=` keeps the latest (they are in effectiveAt order) of the versions with the top license.
    if (licenseRank(v.license) >= licenseRank(top.license)) top = v;
  }
  const recording = RECORDING_ADDON_LICENSES.has(top.license) && active.some((v) => v.recordCalls);
  return { license: top.license, billing: top.billing, recording };
}
