import { DomainError } from './errors.ts';
import type { Minor } from './money.ts';

/**
 * The share of monthly price `price` (minor units, >= 0) that falls on day `d` (1-based) of an
 * `n`-day month: `floor(P*d/n) - floor(P*(d-1)/n)`.
 *
 * Invariants: every share is >= 0 and the shares of d = 1..n telescope to exactly
 * `floor(P*n/n) - floor(0) = P`, so a whole month costs the monthly price whatever `n` is.
 * Example: P = 1900, n = 30 gives 63 on day 1 (floor(63.33)), 63 on day 2 (floor(126.67) - 63)
 * and 64 on day 3 (190 - 126).
 *
 * P*d can exceed 2^53 for prices above ~2.9e14 minor units, so the products are computed with
 * BigInt; the result is at most P and therefore a safe integer.
 */
export function monthlyShare(price: Minor, d: number, n: number): Minor {
  if (!Number.isSafeInteger(price) || price < 0) {
    throw new DomainError(
      'INVALID_PRORATION',
      `monthly price must be a safe integer >= 0, got ${String(price)}`,
    );
  }
  if (!Number.isInteger(n) || n < 1) {
    throw new DomainError('INVALID_PRORATION', `month length must be a positive integer, got ${String(n)}`);
  }
  if (!Number.isInteger(d) || d < 1 || d > n) {
    throw new DomainError('INVALID_PRORATION', `day ${String(d)} is not a day of a ${n}-day month`);
  }
  const p = BigInt(price);
  const days = BigInt(n);
  // BigInt division truncates, which is floor for the non-negative operands here.
  return Number((p * BigInt(d)) / days - (p * BigInt(d - 1)) / days);
}
