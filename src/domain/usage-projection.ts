import { type Day, dayOfMonth, daysInMonth } from './calendar.ts';
import type { Minor } from './money.ts';
import { monthlyShare } from './proration.ts';

export interface ProjectionInput {
  /** What is billed so far (minor units). */
  total: Minor;
  /** Days of the month still to be billed (no current run yet), `YYYY-MM-DD`. */
  remainingDays: readonly Day[];
  /** Monthly lines of the latest billed day: how many lines carry each monthly price. */
  monthlyPrices: ReadonlyArray<{ unitPrice: Minor; lines: number }>;
  /** Sum of the daily lines billed so far, and over how many billed days. */
  dailyAmount: Minor;
  billedDays: number;
}

/**
 * An ESTIMATE of the month's total: what is billed, plus for each remaining day the shares of
 * the monthly prices held on the latest billed day (so monthly users count at their full month),
 * plus the average daily amount per billed day so far. Rounded to whole minor units; equal to
 * `total` when no day remains.
 * Example: total 1000, 10 remaining days of 30, one monthly line at 3000, daily 500 over 20 days:
 * 1000 + 1000 (days 21..30 of 3000) + 25 * 10 = 2250.
 */
export function projectMonthTotal(p: ProjectionInput): Minor {
  if (p.remainingDays.length === 0) return p.total;
  let monthly = 0;
  for (const day of p.remainingDays) {
    const d = dayOfMonth(day);
    const n = daysInMonth(day);
    for (const price of p.monthlyPrices) monthly += price.lines * monthlyShare(price.unitPrice, d, n);
  }
  const daily = p.billedDays === 0 ? 0 : Math.round((p.dailyAmount / p.billedDays) * p.remainingDays.length);
  return p.total + monthly + daily;
}
