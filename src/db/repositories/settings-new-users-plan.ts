import type { SnapshotVersion } from '../../domain/day-snapshot.ts';
import { type LicenseInterval, licenseIntervals } from '../../domain/license-intervals.ts';
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
   * COPY text of `settings_versions` / `license_intervals` rows, in input order (only when planned
   * for COPY), as UTF-8 bytes (`CopyBytes`): no string of the batch's text lives until the batch
   * is stored (each row's string dies young) and the bytes sit outside V8's heap.
   */
  versionsText?: Buffer;
  intervalsText?: Buffer;
}

export interface IntervalRow {
  tenantId: string;
  userId: string;
  interval: LicenseInterval;
}

const versionCopyLine = (v: StagedSettingsVersion) =>
  `${copyText(v.tenantId)}\t${copyText(v.userId)}\t${v.effectiveAt.toISOString()}\t${v.active ? 't' : 'f'}\t${nullable(v.email)}\t${nullable(v.lastName)}\t${copyText(v.settingsJson)}\t${v.license}\t${v.billing}\t${v.recordCalls ? 't' : 'f'}\t${copyText(v.reasonsJson)}\n`;

const intervalCopyLine = (r: IntervalRow) =>
  `${copyText(r.tenantId)}\t${copyText(r.userId)}\t${r.interval.validFrom.toISOString()}\t${r.interval.validTo === null ? 'infinity' : r.interval.validTo.toISOString()}\t${r.interval.license}\t${r.interval.billing}\t${r.interval.recordCalls ? 't' : 'f'}\n`;

/**
 * COPY text written row by row straight into UTF-8 bytes: a batch's text built by `+=` and then
 * `Buffer.from` is a rope of ~20 strings per row that is flattened into one string (as large as
 * the batch) before being encoded; that flattening and encoding were a sixth of the import's CPU
 * profile. Each row (a short string) is encoded into a buffer that doubles when full.
 */
class CopyBytes {
  #buf = Buffer.allocUnsafe(64 * 1024);
  #len = 0;

  add(row: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8.
    const max = row.length * 3;
    if (this.#len + max > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + max));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    this.#len += this.#buf.write(row, this.#len, 'utf8');
  }

  bytes(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
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
  const intervalsText = new CopyBytes();
  const addInterval = (r: IntervalRow) => {
    if (forCopy) intervalsText.add(intervalCopyLine(r));
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
    const versionsText = new CopyBytes();
    if (positions)
      for (const i of positions) versionsText.add(versionCopyLine(versions[i] as StagedSettingsVersion));
    else for (const v of versions) versionsText.add(versionCopyLine(v));
    plan.versionsText = versionsText.bytes();
    plan.intervalsText = intervalsText.bytes();
  }
  return plan;
}
