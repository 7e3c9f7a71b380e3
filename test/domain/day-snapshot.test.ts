import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { dayBounds } from '../../src/domain/calendar.ts';
import {
  type DaySnapshot,
  daySnapshot,
  type SnapshotVersion,
  versionsTouching,
} from '../../src/domain/day-snapshot.ts';
import type { License } from '../../src/domain/settings.ts';

const ZONE = 'Europe/Prague';

/** A version effective at local time `local` (Prague); monthly, active, no recording unless said. */
function v(local: string, license: License, more: Partial<SnapshotVersion> = {}): SnapshotVersion {
  const at = DateTime.fromISO(local, { zone: ZONE });
  if (!at.isValid) throw new Error(`bad test time ${local}`);
  return {
    effectiveAt: at.toJSDate(),
    active: true,
    license,
    billing: 'monthly',
    recordCalls: false,
    ...more,
  };
}
const removed = (local: string): SnapshotVersion => v(local, 'standard', { active: false });
const on = (versions: SnapshotVersion[], day: string) => daySnapshot(versions, dayBounds(day, ZONE));
const snap = (
  license: License,
  billing: 'monthly' | 'daily' = 'monthly',
  recording = false,
): DaySnapshot => ({
  license,
  billing,
  recording,
});

const CASES: Array<[string, SnapshotVersion[], string, DaySnapshot | undefined]> = [
  ['single version', [v('2026-03-01T09:00', 'standard')], '2026-03-10', snap('standard')],
  [
    'upgrade at 23:59: the day is billed at the higher license',
    [v('2026-03-01T09:00', 'standard'), v('2026-03-10T23:59', 'professional')],
    '2026-03-10',
    snap('professional'),
  ],
  [
    'upgrade at 23:59: the day before is untouched',
    [v('2026-03-01T09:00', 'standard'), v('2026-03-10T23:59', 'professional')],
    '2026-03-09',
    snap('standard'),
  ],
  [
    'downgrade at 00:01: still the higher license that day',
    [v('2026-03-01T09:00', 'enterprise'), v('2026-03-10T00:01', 'standard')],
    '2026-03-10',
    snap('enterprise'),
  ],
  [
    'downgrade at 00:01: the lower license from the next day',
    [v('2026-03-01T09:00', 'enterprise'), v('2026-03-10T00:01', 'standard')],
    '2026-03-11',
    snap('standard'),
  ],
  [
    'downgrade at exactly midnight: the old version does not touch the day',
    [v('2026-03-01T09:00', 'enterprise'), v('2026-03-10T00:00', 'standard')],
    '2026-03-10',
    snap('standard'),
  ],
  [
    'removal mid-day: billed that day',
    [v('2026-03-01T09:00', 'standard'), removed('2026-03-10T12:00')],
    '2026-03-10',
    snap('standard'),
  ],
  [
    'removal mid-day: not billed the next day',
    [v('2026-03-01T09:00', 'standard'), removed('2026-03-10T12:00')],
    '2026-03-11',
    undefined,
  ],
  [
    'removal at exactly midnight: billed the day before',
    [v('2026-03-01T09:00', 'standard'), removed('2026-03-11T00:00')],
    '2026-03-10',
    snap('standard'),
  ],
  [
    'removal at exactly midnight: not billed the next day',
    [v('2026-03-01T09:00', 'standard'), removed('2026-03-11T00:00')],
    '2026-03-11',
    undefined,
  ],
  ['user created mid-month: not before', [v('2026-03-15T14:00', 'standard')], '2026-03-14', undefined],
  [
    'user created mid-month: billed from that day',
    [v('2026-03-15T14:00', 'standard')],
    '2026-03-15',
    snap('standard'),
  ],
  [
    'inactive then active the same day',
    [removed('2026-03-01T09:00'), v('2026-03-10T18:00', 'professional')],
    '2026-03-10',
    snap('professional'),
  ],
  [
    'inactive all day: not billed',
    [removed('2026-03-01T09:00'), v('2026-03-10T18:00', 'professional')],
    '2026-03-09',
    undefined,
  ],
  [
    'an inactive version holds no license, even a high one',
    [v('2026-03-01T09:00', 'standard'), v('2026-03-10T12:00', 'developer', { active: false })],
    '2026-03-10',
    snap('standard'),
  ],
  [
    'removed and re-added the same day: the highest active license',
    [v('2026-03-01T09:00', 'standard'), removed('2026-03-10T09:00'), v('2026-03-10T17:00', 'professional')],
    '2026-03-10',
    snap('professional'),
  ],
  [
    'billing mode of the latest version holding the top license',
    [
      v('2026-03-01T09:00', 'professional', { billing: 'daily' }),
      v('2026-03-10T12:00', 'professional', { billing: 'monthly' }),
    ],
    '2026-03-10',
    snap('professional', 'monthly'),
  ],
  [
    'billing mode is not taken from a later, lower version',
    [v('2026-03-01T09:00', 'enterprise', { billing: 'daily' }), v('2026-03-10T12:00', 'standard')],
    '2026-03-10',
    snap('enterprise', 'daily'),
  ],
  [
    'recording on standard: add-on',
    [v('2026-03-01T09:00', 'standard', { recordCalls: true })],
    '2026-03-10',
    snap('standard', 'monthly', true),
  ],
  [
    'recording on enterprise: included, no add-on',
    [v('2026-03-01T09:00', 'enterprise', { recordCalls: true })],
    '2026-03-10',
    snap('enterprise'),
  ],
  [
    'recording on a version downgraded the same day: add-on on the professional day',
    [v('2026-03-01T09:00', 'professional'), v('2026-03-10T12:00', 'standard', { recordCalls: true })],
    '2026-03-10',
    snap('professional', 'monthly', true),
  ],
  [
    'recording on a lower version the same day as enterprise: still included',
    [v('2026-03-01T09:00', 'enterprise'), v('2026-03-10T12:00', 'standard', { recordCalls: true })],
    '2026-03-10',
    snap('enterprise'),
  ],
  [
    'recording of an inactive version does not count',
    [
      v('2026-03-01T09:00', 'standard'),
      v('2026-03-10T12:00', 'standard', { active: false, recordCalls: true }),
    ],
    '2026-03-10',
    snap('standard'),
  ],
  [
    'recording that ended at exactly midnight does not count',
    [v('2026-03-01T09:00', 'standard', { recordCalls: true }), v('2026-03-10T00:00', 'standard')],
    '2026-03-10',
    snap('standard'),
  ],
  [
    'short DST day: a version at 00:30 of the next day does not touch 03-29',
    [v('2026-03-01T09:00', 'standard'), v('2026-03-30T00:30', 'developer')],
    '2026-03-29',
    snap('standard'),
  ],
  [
    'long DST day: a version at 23:30 of 10-25 touches it',
    [v('2026-10-01T09:00', 'standard'), v('2026-10-25T23:30', 'developer')],
    '2026-10-25',
    snap('developer'),
  ],
];

describe('daySnapshot', () => {
  it.each(CASES)('%s', (_name, versions, day, expected) => {
    expect(on(versions, day)).toEqual(expected);
  });

  it('does not depend on the order of the versions', () => {
    for (const [, versions, day, expected] of CASES) {
      expect(on([...versions].reverse(), day)).toEqual(expected);
    }
  });

  it('no versions: not billed', () => {
    expect(on([], '2026-03-10')).toBeUndefined();
  });

  it('refuses two versions at the same instant', () => {
    const twins = [v('2026-03-10T12:00', 'standard'), v('2026-03-10T12:00', 'professional')];
    expect(() => on(twins, '2026-03-10')).toThrow(/two settings versions/);
  });
});

describe('versionsTouching', () => {
  it('keeps inactive versions in force on the day, in time order', () => {
    const a = v('2026-03-01T09:00', 'standard');
    const b = removed('2026-03-10T12:00');
    const c = v('2026-03-12T08:00', 'professional');
    expect(versionsTouching([c, b, a], dayBounds('2026-03-10', ZONE))).toEqual([a, b]);
    expect(versionsTouching([c, b, a], dayBounds('2026-03-11', ZONE))).toEqual([b]);
  });
});
