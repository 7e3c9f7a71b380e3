import { InputError } from '../errors.ts';

const DURATION_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * The expiry of a new key from `--expires-in` (`90d`, `12h`, `30m`: a whole number and a unit)
 * or `--expires-at` (an ISO 8601 instant with an offset or `Z`), judged at `now`; at most one of
 * them; neither: no expiry. An expiry that is not in the future is refused.
 */
export function parseKeyExpiry(
  options: { expiresIn?: string | undefined; expiresAt?: string | undefined },
  now: Date,
): Date | null {
  const { expiresIn, expiresAt } = options;
  if (expiresIn !== undefined && expiresAt !== undefined)
    throw new InputError('give --expires-in or --expires-at, not both');
  let at: Date;
  if (expiresIn !== undefined) {
    const match = /^([1-9]\d{0,5})([mhd])$/.exec(expiresIn);
    if (!match)
      throw new InputError(
        `--expires-in: "${expiresIn}" is not a duration like 90d, 12h or 30m (whole number, unit m, h or d)`,
      );
    const unit = match[2] as keyof typeof DURATION_UNITS_MS;
    at = new Date(now.getTime() + Number(match[1]) * DURATION_UNITS_MS[unit]);
  } else if (expiresAt !== undefined) {
    const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(expiresAt);
    at = new Date(expiresAt);
    if (!ok || Number.isNaN(at.getTime()))
      throw new InputError(
        `--expires-at: "${expiresAt}" is not an ISO 8601 instant with an offset, e.g. 2027-03-01T00:00:00Z`,
      );
  } else return null;
  if (at.getTime() <= now.getTime())
    throw new InputError(`the expiry ${at.toISOString()} is not in the future (now ${now.toISOString()})`);
  return at;
}
