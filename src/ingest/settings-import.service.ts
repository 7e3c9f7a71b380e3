import type { z } from 'zod';
import type { Db } from '../db/database.ts';
import { isDataError } from '../db/database-errors.ts';
import { markDayRanges, type TenantDayRange } from '../db/repositories/day-revision.repository.ts';
import {
  findSettingsVersions,
  findSuccessorInstants,
  insertSettingsVersions,
  type VersionKey,
} from '../db/repositories/settings-version.repository.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import { dayOf } from '../domain/calendar.ts';
import { resolveLicense } from '../domain/license.ts';
import { describeZodError, normaliseSettings } from '../domain/settings.ts';
import type { SettingsVersion, StoredSettingsVersion } from '../domain/settings-version.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';
import { settingsVersionLineSchema } from './settings-version.schema.ts';

export type SettingsVersionInput = z.output<typeof settingsVersionLineSchema>;

/** Validates and resolves one settings version (the license is stored beside the settings). */
export function toSettingsVersion(input: SettingsVersionInput): SettingsVersion {
  const { tenantId, userId, effectiveAt, email, lastName, active, ...fields } = input;
  const settings = normaliseSettings(fields);
  const result = resolveLicense(settings);
  return {
    tenantId,
    userId,
    effectiveAt,
    active,
    email: email ?? null,
    lastName: lastName ?? null,
    settings: { ...settings },
    license: result.license,
    billing: result.billing,
    recordCalls: settings.recordCalls,
    reasons: result.reasons,
    result,
  };
}

export type ParsedLine = { ok: true; version: SettingsVersion } | { ok: false; reason: string };

export function parseSettingsVersionLine(value: unknown): ParsedLine {
  const parsed = settingsVersionLineSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
  return { ok: true, version: toSettingsVersion(parsed.data) };
}

const keyOf = (k: VersionKey) => `${k.tenantId}\u0000${k.userId}\u0000${k.effectiveAt.getTime()}`;

/** The fields (if any) in which two versions with the same key differ. */
export function differingFields(a: StoredSettingsVersion, b: StoredSettingsVersion): string[] {
  const fields: string[] = [];
  if (a.active !== b.active) fields.push('active');
  if (a.email !== b.email) fields.push('email');
  if (a.lastName !== b.lastName) fields.push('lastName');
  const keys = new Set([...Object.keys(a.settings), ...Object.keys(b.settings)]);
  for (const k of [...keys].sort()) {
    if (JSON.stringify(a.settings[k]) !== JSON.stringify(b.settings[k])) fields.push(k);
  }
  return fields;
}

function conflictMessage(v: VersionKey, fields: string[]): string {
  return `settings version of user "${v.userId}" (tenant "${v.tenantId}") at ${v.effectiveAt.toISOString()} already exists with other content (${fields.join(', ')}); versions are never changed: import a new version with a later effectiveAt`;
}

export interface StoreOutcome {
  /** Per input version, in order: stored now, already stored with the same content, or refused. */
  outcomes: ({ status: 'stored' | 'unchanged' } | { status: 'conflict'; reason: string })[];
}

/**
 * The tenant-days a newly stored version changes, as ONE range: from its own day to the day
 * before its successor starts, but not past `receivedAt` (later days are not billed yet). A
 * range, never a list of days: a version back-dated by ten years costs what one back-dated by a
 * day does.
 */
function touchedRange(
  version: VersionKey,
  successor: Date | null,
  tenant: Tenant,
  receivedAt: Date,
): TenantDayRange[] {
  if (version.effectiveAt > receivedAt) return [];
  const endMs = Math.min(
    successor ? successor.getTime() - 1 : Number.POSITIVE_INFINITY,
    receivedAt.getTime(),
  );
  if (endMs < version.effectiveAt.getTime()) return [];
  const from = dayOf(version.effectiveAt, tenant.timezone);
  const to = dayOf(new Date(endMs), tenant.timezone);
  return [{ tenantId: tenant.id, from, to }];
}

/**
 * Stores settings versions: new keys are inserted, an identical repeat is a no-op, the same key
 * with other content is refused. Newly stored versions mark the days they touch for re-billing.
 * Call it inside a transaction so that the versions and their marks commit together.
 * Every version's tenant must exist (the caller checks it).
 */
export async function storeSettingsVersions(
  trx: Db,
  versions: readonly SettingsVersion[],
  receivedAt: Date,
): Promise<StoreOutcome> {
  const outcomes: StoreOutcome['outcomes'] = new Array(versions.length);
  const firstByKey = new Map<string, number>();
  const toInsert: SettingsVersion[] = [];
  versions.forEach((v, i) => {
    const key = keyOf(v);
    const first = firstByKey.get(key);
    if (first === undefined) {
      firstByKey.set(key, i);
      toInsert.push(v);
      return;
    }
    const fields = differingFields(versions[first] as SettingsVersion, v);
    outcomes[i] =
      fields.length === 0
        ? { status: 'unchanged' }
        : { status: 'conflict', reason: conflictMessage(v, fields) };
  });

  const inserted = new Set((await insertSettingsVersions(trx, toInsert)).map(keyOf));
  const notInserted = toInsert.filter((v) => !inserted.has(keyOf(v)));
  const existing = new Map((await findSettingsVersions(trx, notInserted)).map((s) => [keyOf(s), s]));
  for (const v of toInsert) {
    const i = firstByKey.get(keyOf(v)) as number;
    if (inserted.has(keyOf(v))) {
      outcomes[i] = { status: 'stored' };
      continue;
    }
    const stored = existing.get(keyOf(v));
    const fields = stored ? differingFields(stored, v) : ['(unknown)'];
    outcomes[i] =
      fields.length === 0
        ? { status: 'unchanged' }
        : { status: 'conflict', reason: conflictMessage(v, fields) };
  }
  // A later duplicate of a refused first occurrence is refused too.
  versions.forEach((v, i) => {
    const first = firstByKey.get(keyOf(v)) as number;
    if (first !== i && outcomes[first]?.status === 'conflict' && outcomes[i]?.status === 'unchanged') {
      outcomes[i] = outcomes[first] as StoreOutcome['outcomes'][number];
    }
  });

  const newVersions = toInsert.filter((v) => inserted.has(keyOf(v)));
  if (newVersions.length > 0) {
    const tenants = new Map((await listTenants(trx)).map((t) => [t.id, t]));
    const successors = await findSuccessorInstants(trx, newVersions);
    const ranges = newVersions.flatMap((v, i) => {
      const tenant = tenants.get(v.tenantId);
      return tenant ? touchedRange(v, successors[i] ?? null, tenant, receivedAt) : [];
    });
    await markDayRanges(trx, ranges);
  }
  return { outcomes };
}

/**
 * One settings version from the API, in its own transaction: its outcome (stored, unchanged or
 * conflict). A value the schema missed and the database refuses (`isDataError`) is bad input,
 * never a 500: nothing is stored and the error says why.
 */
export async function storeSettingsVersion(
  db: Db,
  version: SettingsVersion,
  receivedAt: Date,
): Promise<StoreOutcome['outcomes'][number]> {
  try {
    const { outcomes } = await inTransaction(db, (trx) => storeSettingsVersions(trx, [version], receivedAt));
    return outcomes[0] ?? { status: 'stored' };
  } catch (error) {
    if (!isDataError(error)) throw error;
    throw new InputError(
      `the database refused this settings version: ${(error as Error).message}; nothing was stored`,
      'SETTINGS_REFUSED',
    );
  }
}
