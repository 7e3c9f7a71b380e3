import { z } from 'zod';
import { settingsFieldsSchema } from '../domain/settings.ts';

export const userIdSchema = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
export const tenantIdSchema = z.string().min(1, 'must not be empty').max(63);

/** RFC 3339 with `Z` or an explicit offset; a local time without offset is refused, never guessed. */
export const instantSchema = z.iso
  .datetime({ offset: true, error: 'must be an RFC 3339 timestamp with Z or an offset' })
  .transform((s) => new Date(s));

const versionFields = {
  ...settingsFieldsSchema,
  effectiveAt: instantSchema,
  email: z.string().max(320).optional(),
  lastName: z.string().max(200).optional(),
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
