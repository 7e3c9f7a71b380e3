import { z } from 'zod';
import {
  MAX_PERMISSIONS,
  MAX_SKILL_LENGTH,
  MAX_SKILLS,
  PERMISSIONS,
  ROLES,
  settingsFieldsSchema,
} from '../domain/settings.ts';
import { cleanString, EARLIEST_INSTANT_ISO, EARLIEST_INSTANT_MS, isCleanText } from '../domain/text.ts';

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

export type SettingsVersionLine = z.output<typeof settingsVersionLineSchema>;

/** zod's own RFC 3339 pattern (offset required), so the fast path accepts what the schema does. */
const instantPattern = (() => {
  const p = (z.iso.datetime({ offset: true }) as unknown as { _zod?: { def?: { pattern?: unknown } } })._zod
    ?.def?.pattern;
  return p instanceof RegExp ? p : undefined;
})();

const ROLE_SET: ReadonlySet<unknown> = new Set(ROLES);
const PERMISSION_SET: ReadonlySet<unknown> = new Set(PERMISSIONS);
const LINE_KEYS: ReadonlySet<string> = new Set(Object.keys(settingsVersionLineSchema.shape));

const clean = (v: unknown, min: number, max: number): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max && isCleanText(v);
const optionalBool = (v: unknown) => v === undefined || typeof v === 'boolean';

function cleanList(v: unknown, maxItems: number, ok: (item: unknown) => boolean): boolean {
  if (v === undefined) return true;
  if (!Array.isArray(v) || v.length > maxItems) return false;
  for (const item of v) if (!ok(item)) return false;
  return true;
}

/**
 * A settings line of the plainly valid shape, checked by hand (`safeParse` dominated the
 * import's CPU): undefined whenever anything is unusual, and then the schema judges the line and
 * words the reason. Same verdicts and output as `settingsVersionLineSchema` (property-tested).
 */
export function fastSettingsVersionLine(value: unknown): SettingsVersionLine | undefined {
  if (instantPattern === undefined || typeof value !== 'object' || value === null || Array.isArray(value))
    return undefined;
  const v = value as Record<string, unknown>;
  for (const k in v) if (!LINE_KEYS.has(k)) return undefined;
  const { tenantId, userId, effectiveAt, email, lastName, active, role, permissions, skills } = v;
  const { trackStatistics, recordCalls, billing } = v;
  if (!clean(tenantId, 1, 63) || !clean(userId, 1, 200) || typeof effectiveAt !== 'string') return undefined;
  if (!instantPattern.test(effectiveAt)) return undefined;
  const ms = new Date(effectiveAt).getTime();
  if (Number.isNaN(ms) || ms < EARLIEST_INSTANT_MS) return undefined;
  if (email !== undefined && !clean(email, 0, 320)) return undefined;
  if (lastName !== undefined && !clean(lastName, 0, 200)) return undefined;
  if (!optionalBool(active) || !optionalBool(trackStatistics) || !optionalBool(recordCalls)) return undefined;
  if (role !== undefined && !ROLE_SET.has(role)) return undefined;
  if (billing !== undefined && billing !== 'monthly' && billing !== 'daily') return undefined;
  if (!cleanList(permissions, MAX_PERMISSIONS, (p) => PERMISSION_SET.has(p))) return undefined;
  if (!cleanList(skills, MAX_SKILLS, (s) => clean(s, 1, MAX_SKILL_LENGTH))) return undefined;
  const line: SettingsVersionLine = {
    tenantId,
    userId,
    role: (role ?? 'user') as SettingsVersionLine['role'],
    permissions: ((permissions as SettingsVersionLine['permissions'] | undefined) ?? []).slice(),
    trackStatistics: (trackStatistics as boolean | undefined) ?? false,
    skills: ((skills as string[] | undefined) ?? []).slice(),
    recordCalls: (recordCalls as boolean | undefined) ?? false,
    billing: (billing ?? 'monthly') as SettingsVersionLine['billing'],
    effectiveAt: new Date(ms),
    active: (active as boolean | undefined) ?? true,
  };
  if (email !== undefined) line.email = email;
  if (lastName !== undefined) line.lastName = lastName;
  return line;
}
