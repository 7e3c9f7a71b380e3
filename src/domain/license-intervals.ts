import type { SnapshotVersion } from './day-snapshot.ts';
import type { BillingMode, License } from './settings.ts';

/** A stretch of one user's time with one active state: in force on [validFrom, validTo). */
export interface LicenseInterval {
  validFrom: Date;
  /** null: open (no later version ends it). */
  validTo: Date | null;
  license: License;
  billing: BillingMode;
  recordCalls: boolean;
}

/**
 * Reference of the rule "license intervals"; production twin: the trigger function
 * `license_intervals_refresh_users` of migration 0008 (run by a trigger), which keeps the
 * table `license_intervals` that the day's snapshot reads; kept equal by
 * `test/integration/license-intervals.test.ts`.
 *
 * The intervals of ONE user from all of their versions (any order; instants unique): each active
 * version is in force up to the next version's effectiveAt; consecutive active versions with the
 * same (license, billing, recordCalls) form one interval; inactive versions hold nothing (a gap).
 * The day snapshot over these intervals equals `daySnapshot` over the versions: merging versions
 * of one state changes neither the highest license, nor the billing of the latest holding it,
 * nor "any records calls". Result in time order.
 */
export function licenseIntervals(versions: readonly SnapshotVersion[]): LicenseInterval[] {
  const sorted = [...versions].sort((a, b) => a.effectiveAt.getTime() - b.effectiveAt.getTime());
  const out: LicenseInterval[] = [];
  let open: LicenseInterval | undefined;
  for (const v of sorted) {
    if (open) open.validTo = v.effectiveAt;
    const same =
      open !== undefined &&
      v.active &&
      open.license === v.license &&
      open.billing === v.billing &&
      open.recordCalls === v.recordCalls;
    if (same) {
      (open as LicenseInterval).validTo = null;
      continue;
    }
    open = undefined;
    if (!v.active) continue;
    open = {
      validFrom: v.effectiveAt,
      validTo: null,
      license: v.license,
      billing: v.billing,
      recordCalls: v.recordCalls,
    };
    out.push(open);
  }
  return out;
}
