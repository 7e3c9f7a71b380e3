import { describe, expect, it } from 'vitest';
import { adjustmentLines, diffRuns, type LineAmount } from '../../src/domain/adjustments.ts';

const line = (
  userId: string,
  item: string,
  amount: number,
  billing: 'monthly' | 'daily' = 'monthly',
): LineAmount => ({
  userId,
  item,
  billing,
  amount,
});

describe('adjustmentLines', () => {
  it.each<[string, LineAmount[], LineAmount[], ReturnType<typeof adjustmentLines>]>([
    [
      'unchanged: nothing',
      [line('u1', 'license.standard', 61), line('u1', 'addon.recording', 29)],
      [line('u1', 'addon.recording', 29), line('u1', 'license.standard', 61)],
      [],
    ],
    [
      'changed amount: the difference',
      [line('u1', 'license.standard', 61)],
      [line('u1', 'license.standard', 66)],
      [{ userId: 'u1', item: 'adjustment.license.standard', billing: 'monthly', amount: 5 }],
    ],
    [
      'disappeared: counts as new 0',
      [line('u1', 'license.standard', 61), line('u2', 'license.standard', 61)],
      [line('u1', 'license.standard', 61)],
      [{ userId: 'u2', item: 'adjustment.license.standard', billing: 'monthly', amount: -61 }],
    ],
    [
      'appeared: counts as billed 0',
      [line('u1', 'license.standard', 61)],
      [line('u1', 'license.standard', 61), line('u1', 'addon.recording', 29)],
      [{ userId: 'u1', item: 'adjustment.addon.recording', billing: 'monthly', amount: 29 }],
    ],
    [
      'adjustments already written count as billed',
      [line('u1', 'license.standard', 61), line('u1', 'adjustment.license.standard', 5)],
      [line('u1', 'license.standard', 66)],
      [],
    ],
    [
      'a further change on top of an adjustment',
      [line('u1', 'license.standard', 61), line('u1', 'adjustment.license.standard', 5)],
      [line('u1', 'license.standard', 70)],
      [{ userId: 'u1', item: 'adjustment.license.standard', billing: 'monthly', amount: 4 }],
    ],
    [
      'a billing mode change is two lines, daily before monthly',
      [line('u1', 'license.professional', 250, 'daily')],
      [line('u1', 'license.professional', 126, 'monthly')],
      [
        { userId: 'u1', item: 'adjustment.license.professional', billing: 'daily', amount: -250 },
        { userId: 'u1', item: 'adjustment.license.professional', billing: 'monthly', amount: 126 },
      ],
    ],
    [
      'an upgrade: new item up, old item down, ordered by item',
      [line('u1', 'license.standard', 61)],
      [line('u1', 'license.professional', 126)],
      [
        { userId: 'u1', item: 'adjustment.license.professional', billing: 'monthly', amount: 126 },
        { userId: 'u1', item: 'adjustment.license.standard', billing: 'monthly', amount: -61 },
      ],
    ],
    [
      'a change to a zero-amount line appears (0 -> 1)',
      [line('u1', 'license.standard', 0)],
      [line('u1', 'license.standard', 1)],
      [{ userId: 'u1', item: 'adjustment.license.standard', billing: 'monthly', amount: 1 }],
    ],
  ])('%s', (_name, billed, recomputed, expected) => {
    expect(adjustmentLines(billed, recomputed)).toEqual(expected);
  });

  it('orders users by code point, not UTF-16 units', () => {
    const users = ['u\u{10000}', 'u\uFFFD', 'a', 'B'];
    const result = adjustmentLines(
      [],
      users.map((u) => line(u, 'license.standard', 1)),
    );
    expect(result.map((l) => l.userId)).toEqual(['B', 'a', 'u\uFFFD', 'u\u{10000}']);
  });

  it('refuses an adjustment among the recomputed lines', () => {
    expect(() => adjustmentLines([], [line('u1', 'adjustment.license.standard', 1)])).toThrow(/adjustment/);
  });

  it('refuses a non-integer amount, naming the user', () => {
    expect(() => adjustmentLines([line('u7', 'license.standard', 0.5)], [])).toThrow(/u7/);
  });

  it('applying the adjustments makes billed equal recomputed, so a second pass adds nothing', () => {
    const billed = [line('u1', 'license.standard', 61), line('u2', 'license.enterprise', 190)];
    const recomputed = [line('u1', 'license.professional', 126), line('u1', 'addon.recording', 29)];
    const first = adjustmentLines(billed, recomputed);
    expect(first).toHaveLength(4);
    expect(adjustmentLines([...billed, ...first], recomputed)).toEqual([]);
  });
});

describe('diffRuns', () => {
  it('lists changed rows with before and after, and totals over all lines', () => {
    const before = [
      line('u1', 'license.standard', 61),
      line('u2', 'license.professional', 250, 'daily'),
      line('u3', 'license.enterprise', 190),
    ];
    const after = [
      line('u1', 'license.standard', 61),
      line('u2', 'license.professional', 250, 'daily'),
      line('u2', 'addon.recording', 50, 'daily'),
      line('u3', 'license.enterprise', 200),
    ];
    expect(diffRuns(before, after)).toEqual({
      rows: [
        { userId: 'u2', item: 'addon.recording', billing: 'daily', before: 0, after: 50 },
        { userId: 'u3', item: 'license.enterprise', billing: 'monthly', before: 190, after: 200 },
      ],
      totals: { before: 501, after: 561, delta: 60 },
    });
  });

  it('a user who disappeared shows after 0', () => {
    const d = diffRuns([line('u9', 'license.standard', 61)], []);
    expect(d.rows).toEqual([
      { userId: 'u9', item: 'license.standard', billing: 'monthly', before: 61, after: 0 },
    ]);
    expect(d.totals).toEqual({ before: 61, after: 0, delta: -61 });
  });

  it('identical runs: no rows, zero delta', () => {
    const lines = [line('u1', 'license.standard', 61)];
    expect(diffRuns(lines, [...lines])).toEqual({ rows: [], totals: { before: 61, after: 61, delta: 0 } });
  });
});
