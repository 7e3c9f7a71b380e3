import { compareKeys } from './code-point-order.ts';
import { DomainError } from './errors.ts';
import { assertMinor, type Minor, sumMinor } from './money.ts';
import type { BillingMode } from './settings.ts';

const ADJUSTMENT_PREFIX = 'adjustment.';

/** An amount of one user for one base item (`license.standard`, `addon.recording`) on one day. */
export interface LineAmount {
  userId: string;
  item: string;
  billing: BillingMode;
  amount: Minor;
}

/** A correction of a closed day: `item` is `adjustment.<base item>`. */
export interface AdjustmentLine {
  userId: string;
  item: `adjustment.${string}`;
  billing: BillingMode;
  amount: Minor;
}

export interface AmountDiff {
  userId: string;
  item: string;
  billing: BillingMode;
  before: Minor;
  after: Minor;
}

export interface RunDiff {
  /** Only the (user, item, billing) whose summed amount changed, in code point order. */
  rows: AmountDiff[];
  /** Over all lines, changed or not; `delta` = after - before. */
  totals: { before: Minor; after: Minor; delta: Minor };
}

type Key = [userId: string, item: string, billing: BillingMode];

/** Sums amounts per (user, item, billing). `baseItem` maps an item to the key's item. */
function sumByKey(
  lines: readonly LineAmount[],
  baseItem: (item: string) => string,
): Map<string, [Key, Minor]> {
  const sums = new Map<string, [Key, Minor]>();
  for (const line of lines) {
    assertMinor(line.amount, `amount of ${line.userId} ${line.item}`);
    const key: Key = [line.userId, baseItem(line.item), line.billing];
    const id = JSON.stringify(key);
    const previous = sums.get(id)?.[1] ?? 0;
    sums.set(id, [key, sumMinor([previous, line.amount])]);
  }
  return sums;
}

/** Pairs up before/after sums; a key missing on one side counts as 0 there. Sorted by key. */
function pairSums(before: Map<string, [Key, Minor]>, after: Map<string, [Key, Minor]>): AmountDiff[] {
  const rows: AmountDiff[] = [];
  for (const id of new Set([...before.keys(), ...after.keys()])) {
    const key = (before.get(id) ?? after.get(id))?.[0] as Key;
    const [userId, item, billing] = key;
    rows.push({ userId, item, billing, before: before.get(id)?.[1] ?? 0, after: after.get(id)?.[1] ?? 0 });
  }
  return rows.sort((a, b) => compareKeys([a.userId, a.item, a.billing], [b.userId, b.item, b.billing]));
}

function stripAdjustment(item: string): string {
  return item.startsWith(ADJUSTMENT_PREFIX) ? item.slice(ADJUSTMENT_PREFIX.length) : item;
}

function refuseAdjustment(item: string): string {
  if (item.startsWith(ADJUSTMENT_PREFIX)) {
    throw new DomainError('INVALID_LINE', `a recomputed line cannot be an adjustment (${item})`);
  }
  return item;
}

/**
 * Adjustment lines for a day of a closed period. `billed`: what is already billed for the day
 * (the closed lines plus the adjustments already written; an `adjustment.<item>` is counted
 * towards `<item>`). `recomputed`: the lines the day has now. For every (user, item, billing)
 * whose summed amount differs, one line `adjustment.<item>` with amount = recomputed - billed
 * (an item that disappeared counts as recomputed 0, one that appeared as billed 0). Zero
 * differences give nothing, so replaying an unchanged day adds nothing. Ordered by user, item,
 * billing in code point order.
 * Example: billed license.standard 63, recomputed license.professional 130: two lines,
 * adjustment.license.professional +130 and adjustment.license.standard -63.
 */
export function adjustmentLines(
  billed: readonly LineAmount[],
  recomputed: readonly LineAmount[],
): AdjustmentLine[] {
  return pairSums(sumByKey(billed, stripAdjustment), sumByKey(recomputed, refuseAdjustment))
    .filter((row) => row.before !== row.after)
    .map((row) => ({
      userId: row.userId,
      item: `${ADJUSTMENT_PREFIX}${row.item}` as const,
      billing: row.billing,
      amount: sumMinor([row.after, -row.before]),
    }));
}

/**
 * The difference between a day's current lines (`before`) and a new run's lines (`after`), as
 * a replay prints it: per (user, item, billing) with a different summed amount, both sums
 * (a missing side is 0), in code point order; and the totals of all lines with their delta.
 * Items are compared as they are (an adjustment item is its own item here).
 */
export function diffRuns(before: readonly LineAmount[], after: readonly LineAmount[]): RunDiff {
  const identity = (item: string): string => item;
  const rows = pairSums(sumByKey(before, identity), sumByKey(after, identity)).filter(
    (r) => r.before !== r.after,
  );
  const totalBefore = sumMinor(before.map((l) => l.amount));
  const totalAfter = sumMinor(after.map((l) => l.amount));
  return {
    rows,
    totals: { before: totalBefore, after: totalAfter, delta: sumMinor([totalAfter, -totalBefore]) },
  };
}
