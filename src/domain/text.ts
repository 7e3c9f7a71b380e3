import { z } from 'zod';

/**
 * The string rule of `ingest.md` shared by events and settings versions: every string is
 * well-formed Unicode (no lone UTF-16 surrogate, which UTF-8 cannot encode and the database
 * would silently turn into U+FFFD) and holds no NUL (which a PostgreSQL text value cannot).
 * Such a value is refused, never rewritten.
 */
export function textProblem(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (!isWellFormed(s)) return 'must be well-formed Unicode (no lone surrogate)';
  return undefined;
}

/** True when `s` passes `textProblem` (the cheap check of the fast paths). */
export function isCleanText(s: string): boolean {
  return !s.includes('\u0000') && isWellFormed(s);
}

/** `String.prototype.isWellFormed` (Node 20; not yet in the ES2023 lib typings). */
export function isWellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/**
 * A zod string of `min`..`max` UTF-16 code units that also follows the string rule. The length
 * messages name the limit; the field name comes from the issue path (`describeZodError`).
 */
export function cleanString(min: number, max: number) {
  return z
    .string()
    .min(min, min === 1 ? 'must not be empty' : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .superRefine((s, ctx) => {
      const problem = textProblem(s);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    });
}

/** The earliest instant an event or a settings version may carry (`ingest.md`). */
export const EARLIEST_INSTANT_MS = Date.UTC(2000, 0, 1);
export const EARLIEST_INSTANT_ISO = '2000-01-01T00:00:00Z';
