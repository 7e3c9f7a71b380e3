import { z } from 'zod';
import { cleanString } from './text.ts';

/** Licenses, lowest first: the array index is the rank of `docs/licensing.md`. */
export const LICENSES = ['dashboard', 'standard', 'professional', 'enterprise', 'developer'] as const;
export type License = (typeof LICENSES)[number];

export const ROLES = ['user', 'team_leader', 'administrator'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'communication',
  'dashboard',
  'statistics',
  'settings',
  'team',
  'workspace',
  'workflow',
  'api',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const BILLING_MODES = ['monthly', 'daily'] as const;
export type BillingMode = (typeof BILLING_MODES)[number];

export const ADDONS = ['recording'] as const;
export type Addon = (typeof ADDONS)[number];

export function licenseRank(license: License): number {
  return LICENSES.indexOf(license);
}

/**
 * Size limits of the settings arrays (docs/file-formats.md): far above any real user (a handful of
 * skills, eight permissions at most) and small enough that one version cannot become a
 * megabyte of JSON. Repeats count (they are collapsed only after validation).
 */
export const MAX_SKILLS = 500;
export const MAX_SKILL_LENGTH = 100;
export const MAX_PERMISSIONS = 100;

/** The settings fields of `docs/licensing.md`. Unknown keys, `null` and wrong types are refused. */
export const settingsFieldsSchema = {
  role: z.enum(ROLES).default('user'),
  permissions: z
    .array(z.enum(PERMISSIONS))
    .max(MAX_PERMISSIONS, `must hold at most ${MAX_PERMISSIONS} entries`)
    .default([]),
  trackStatistics: z.boolean().default(false),
  skills: z
    .array(cleanString(1, MAX_SKILL_LENGTH))
    .max(MAX_SKILLS, `must hold at most ${MAX_SKILLS} entries`)
    .default([]),
  recordCalls: z.boolean().default(false),
  billing: z.enum(BILLING_MODES).default('monthly'),
};

export const settingsSchema = z.strictObject(settingsFieldsSchema);

/** Settings after validation and normalisation: sets are de-duplicated and sorted (code point order). */
export interface Settings {
  role: Role;
  permissions: Permission[];
  trackStatistics: boolean;
  skills: string[];
  recordCalls: boolean;
  billing: BillingMode;
}

function sortedUnique<T extends string>(values: readonly T[]): T[] {
  // Most lists are short and already in order: copied as they are, without a Set and a sort.
  let ordered = true;
  for (let i = 1; i < values.length && ordered; i++) ordered = (values[i - 1] as T) < (values[i] as T);
  if (ordered) return values.slice();
  return [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Normalises parsed settings so that equal meaning gives equal value: duplicates collapse and
 * sets are sorted. Two versions are "the same" exactly when their normalised settings are equal.
 */
export function normaliseSettings(parsed: z.output<typeof settingsSchema>): Settings {
  return {
    role: parsed.role,
    permissions: sortedUnique(parsed.permissions),
    trackStatistics: parsed.trackStatistics,
    skills: sortedUnique(parsed.skills),
    recordCalls: parsed.recordCalls,
    billing: parsed.billing,
  };
}

/** Formats a zod error as "field: message; field: message" so that every message names the field. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
