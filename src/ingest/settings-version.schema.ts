import { z } from 'zod';
import { settingsFieldsSchema } from '../domain/settings.ts';
import { cleanString, EARLIEST_INSTANT_ISO, EARLIEST_INSTANT_MS } from '../domain/text.ts';

/** Strings follow the rule of `domain/text.ts` (well-formed, no NUL): refused, never rewritten. */
export const userIdSchema = cleanString(1, 200);
export const tenantIdSchema = cleanString(1, 63);

/**
 * RFC 3339 with `Z` or an explicit offset; a local time without offset is refused, never guessed.
 * Not before 2000-01-01T00:00:00Z (`ingest.md`): an ancient `effectiveAt` would mark every day
 * since then for re-billing.
 */
export const instantSchema = z.iso
  .datetime({ offset: true, error: 'must be an RFC 3339 timestamp with Z or an offset' })
  .transform((s) => new Date(s))
  .refine((d) => d.getTime() >= EARLIEST_INSTANT_MS, `must not be before ${EARLIEST_INSTANT_ISO}`);

const versionFields = {
  ...settingsFieldsSchema,
  effectiveAt: instantSchema,
  email: cleanString(0, 320).optional(),
  lastName: cleanString(0, 200).optional(),
  active: z.boolean().default(true),
};

/** One line of a settings NDJSON file: a complete version (left-out fields take their defaults). */
export const settingsVersionLineSchema = z.strictObject({
  tenantId: tenantIdSchema,
  userId: userIdSchema,
  ...versionFields,
});

/** The body of `PUT /v1/users/:userId/settings`: tenant and user come from the key and the path. */
export const settingsVersionBodySchema = z.strictObject({
  ...versionFields,
  effectiveAt: instantSchema.optional(),
});
