import { type Kysely, sql } from 'kysely';
import type { z } from 'zod';
import type { Database, Db } from '../db/database.ts';
import { isDataError } from '../db/database-errors.ts';
import { markDayRanges, type TenantDayRange } from '../db/repositories/day-revision.repository.ts';
import {
  beginSettingsBatch,
  commitNewUsersBatch,
  storeNewUsersBatch,
} from '../db/repositories/settings-batch-script.repository.ts';
import { type NewUsersPlan, planNewUsers } from '../db/repositories/settings-new-users-plan.ts';
import { findSettingsVersions, type VersionKey } from '../db/repositories/settings-version.repository.ts';
import { storeSettingsVersionBatch } from '../db/repositories/settings-version-batch.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import { spansToDayRanges, type TenantInstantSpan } from '../domain/day-ranges.ts';
import { type LicenseResult, resolveLicense } from '../domain/license.ts';
import { describeZodError, normaliseSettings, type Settings } from '../domain/settings.ts';
import type { SettingsVersion, StoredSettingsVersion } from '../domain/settings-version.ts';
import { InputError } from '../errors.ts';
import { fastSettingsVersionLine, settingsVersionLineSchema } from './settings-version.schema.ts';

/** Below this many new versions a batch is staged with `unnest`: COPY's extra round trips do not pay. */
const COPY_MIN_VERSIONS = 1_000;

export type SettingsVersionInput = z.output<typeof settingsVersionLineSchema>;

interface ResolvedShape {
  result: LicenseResult;
  reasonsJson: string;
}

/**
 * Licenses resolved once per distinct settings SHAPE: what `resolveLicense` reads (role,
 * permissions, trackStatistics, the number of distinct skills, recordCalls, billing), so a file
 * of a million users with a few dozen shapes resolves a few dozen times. Bounded: it starts
 * afresh past `MAX_SHAPES` entries. It also hands out one string per distinct settings text
 * (`settingsText`): a tenant's users share a few hundred settings at most, and a parsed line
 * holds its settings text until its batch commits (docs/performance/settings.md, twelfth pass).
 */
export class LicenseShapes {
  static readonly MAX_SHAPES = 10_000;
  readonly #shapes = new Map<string, ResolvedShape>();
  readonly #texts = new Map<string, string>();

  resolve(settings: Settings): ResolvedShape {
    const key = `${settings.role}|${settings.permissions.join(',')}|${settings.trackStatistics}|${settings.skills.length}|${settings.recordCalls}|${settings.billing}`;
    let shape = this.#shapes.get(key);
    if (shape === undefined) {
      if (this.#shapes.size >= LicenseShapes.MAX_SHAPES) this.#shapes.clear();
      const result = resolveLicense(settings);
      shape = { result, reasonsJson: JSON.stringify(result.reasons) };
      this.#shapes.set(key, shape);
    }
    return shape;
  }

  /** `JSON.stringify(settings)`, the same string for equal settings (up to `MAX_SHAPES` texts). */
  settingsText(settings: Settings): string {
    const text = JSON.stringify(settings);
    const known = this.#texts.get(text);
    if (known !== undefined) return known;
    if (this.#texts.size >= LicenseShapes.MAX_SHAPES) this.#texts.clear();
    this.#texts.set(text, text);
    return text;
  }
}

/**
 * A parsed settings version as the import holds it until its batch commits: the normalised
 * settings kept as their JSON text only, parsed again when `settings` is read (a conflict's
 * fields). The object was a quarter of the heap a parsed line held, and what a batch holds
 * survives the collector's scavenges (docs/performance/settings.md, twelfth pass).
 */
class ParsedSettingsVersion implements SettingsVersion {
  constructor(
    readonly tenantId: string,
    readonly userId: string,
    readonly effectiveAt: Date,
    readonly active: boolean,
    readonly email: string | null,
    readonly lastName: string | null,
    readonly settingsJson: string,
    readonly license: string,
    readonly billing: string,
    readonly recordCalls: boolean,
    readonly reasons: string[],
    readonly reasonsJson: string,
    readonly result: LicenseResult,
  ) {}

  get settings(): Record<string, unknown> {
    return JSON.parse(this.settingsJson) as Record<string, unknown>;
  }
}

/** Validates and resolves one settings version (the license is stored beside the settings). */
export function toSettingsVersion(
  input: SettingsVersionInput,
  shapes: LicenseShapes = new LicenseShapes(),
): SettingsVersion {
  // `normaliseSettings` reads only the settings fields and returns a new object.
  const settings = normaliseSettings(input);
  const { result, reasonsJson } = shapes.resolve(settings);
  return new ParsedSettingsVersion(
    input.tenantId,
    input.userId,
    input.effectiveAt,
    input.active,
    input.email ?? null,
    input.lastName ?? null,
    shapes.settingsText(settings),
    result.license,
    result.billing,
    settings.recordCalls,
    result.reasons,
    reasonsJson,
    result,
  );
}

export type ParsedLine = { ok: true; version: SettingsVersion } | { ok: false; reason: string };

/** One decoded line: the plainly valid shape by hand, anything else judged (and worded) by the schema. */
export function parseSettingsVersionLine(value: unknown, shapes?: LicenseShapes): ParsedLine {
  const fast = fastSettingsVersionLine(value);
  if (fast !== undefined) return { ok: true, version: toSettingsVersion(fast, shapes) };
  const parsed = settingsVersionLineSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
  return { ok: true, version: toSettingsVersion(parsed.data, shapes) };
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
  /** How many of the versions belong to users that already had a stored version. */
  ofKnownUsers: number;
}

/**
 * The tenant-days newly stored versions change: for each, its stretch from its own instant to the
 * one before its successor starts, but not past `receivedAt` (later days are not billed yet), as
 * merged day RANGES, never a list of days: a version back-dated by ten years costs what one
 * back-dated by a day does. Stretches are joined in time before any goes through the zone, so a
 * batch costs a few time-zone conversions per tenant, not two per version.
 */
function touchedRanges(
  versions: readonly VersionKey[],
  successorOf: (i: number) => Date | undefined,
  zones: ReadonlyMap<string, string>,
  receivedAt: Date,
): TenantDayRange[] {
  const received = receivedAt.getTime();
  const spans: TenantInstantSpan[] = [];
  versions.forEach((v, i) => {
    const zone = zones.get(v.tenantId);
    const fromMs = v.effectiveAt.getTime();
    if (zone === undefined || fromMs > received) return;
    const successor = successorOf(i);
    const toMs = successor === undefined ? received : Math.min(successor.getTime() - 1, received);
    spans.push({ tenantId: v.tenantId, zone, fromMs, toMs });
  });
  return spansToDayRanges(spans);
}

/**
 * A batch made ready for `storePreparedSettingsVersions` in Node alone (no database): repeats of a
 * key inside the batch judged, the distinct versions to insert, and the plan for the case where
 * every user is new (intervals, successors, COPY text). The file import prepares batch N+1 while
 * batch N is being stored.
 */
export interface PreparedSettingsVersions {
  /** Outcomes known before the database is asked: repeats of an earlier key of the batch. */
  outcomes: StoreOutcome['outcomes'];
  /** Distinct keys, first occurrence first; `firstOf[j]`: the input position of `toInsert[j]`. */
  toInsert: SettingsVersion[];
  firstOf: number[];
  /** Input position -> position in `toInsert` of the first version with its key (repeats only). */
  repeats: Map<number, number>;
  byCopy: boolean;
  /** Absent when not planned ahead: then the transaction plans its new users itself. */
  plan?: NewUsersPlan;
}

/**
 * Prepares a batch (see `PreparedSettingsVersions`). `byCopy`: the server takes COPY (real
 * PostgreSQL), used from `copyMinVersions` distinct versions on. `planNewUsers: false` skips the
 * plan (a batch of users that already have versions would not use it).
 */
export function prepareSettingsVersions(
  versions: readonly SettingsVersion[],
  options: { byCopy?: boolean; copyMinVersions?: number; planNewUsers?: boolean } = {},
): PreparedSettingsVersions {
  const outcomes: StoreOutcome['outcomes'] = new Array(versions.length);
  const firstByKey = new Map<string, number>();
  const toInsert: SettingsVersion[] = [];
  const firstOf: number[] = [];
  const repeats = new Map<number, number>();
  for (let i = 0; i < versions.length; i++) {
    const v = versions[i] as SettingsVersion;
    const key = keyOf(v);
    const first = firstByKey.get(key);
    if (first === undefined) {
      firstByKey.set(key, toInsert.length);
      toInsert.push(v);
      firstOf.push(i);
      continue;
    }
    repeats.set(i, first);
    const fields = differingFields(toInsert[first] as SettingsVersion, v);
    outcomes[i] =
      fields.length === 0
        ? { status: 'unchanged' }
        : { status: 'conflict', reason: conflictMessage(v, fields) };
  }
  const byCopy = options.byCopy === true && toInsert.length >= (options.copyMinVersions ?? COPY_MIN_VERSIONS);
  return {
    outcomes,
    toInsert,
    firstOf,
    repeats,
    byCopy,
    plan: options.planNewUsers === false ? undefined : planNewUsers(toInsert, undefined, byCopy),
  };
}

/**
 * Stores settings versions: new keys are inserted, an identical repeat is a no-op, the same key
 * with other content is refused. Newly stored versions mark the days they touch for re-billing.
 * Call it inside a transaction so that the versions and their marks commit together.
 * A version of a tenant that does not exist refuses the whole call (`UNKNOWN_TENANT`).
 * `byCopy`: the server takes COPY (real PostgreSQL), used from `copyMinVersions` versions on.
 */
export function storeSettingsVersions(
  trx: Db,
  versions: readonly SettingsVersion[],
  receivedAt: Date,
  options: { byCopy?: boolean; copyMinVersions?: number } = {},
): Promise<StoreOutcome> {
  return storePreparedSettingsVersions(trx, prepareSettingsVersions(versions, options), receivedAt);
}

/** `storeSettingsVersions` of a batch prepared beforehand (`prepareSettingsVersions`). */
export async function storePreparedSettingsVersions(
  trx: Db,
  prepared: PreparedSettingsVersions,
  receivedAt: Date,
): Promise<StoreOutcome> {
  const { toInsert, firstOf, repeats } = prepared;
  const outcomes = prepared.outcomes.slice();
  const { notInserted, ofKnownUsers, successors, zones } = await storeSettingsVersionBatch(
    trx,
    toInsert,
    prepared.byCopy,
    prepared.plan,
  );
  const notStored = new Set(notInserted);
  const existing = new Map(
    (
      await findSettingsVersions(
        trx,
        notInserted.map((j) => toInsert[j] as SettingsVersion),
      )
    ).map((s) => [keyOf(s), s]),
  );
  for (let j = 0; j < toInsert.length; j++) {
    const i = firstOf[j] as number;
    if (!notStored.has(j)) {
      outcomes[i] = { status: 'stored' };
      continue;
    }
    const v = toInsert[j] as SettingsVersion;
    const stored = existing.get(keyOf(v));
    const fields = stored ? differingFields(stored, v) : ['(unknown)'];
    outcomes[i] =
      fields.length === 0
        ? { status: 'unchanged' }
        : { status: 'conflict', reason: conflictMessage(v, fields) };
  }
  // A later duplicate of a refused first occurrence is refused too.
  for (const [i, j] of repeats) {
    const first = outcomes[firstOf[j] as number];
    if (first?.status === 'conflict' && outcomes[i]?.status === 'unchanged') outcomes[i] = first;
  }

  if (notStored.size < toInsert.length) {
    const stored = notStored.size === 0 ? toInsert : toInsert.filter((_, j) => !notStored.has(j));
    const positions =
      notStored.size === 0 ? undefined : toInsert.flatMap((_, j) => (notStored.has(j) ? [] : [j]));
    const ranges = touchedRanges(
      stored,
      (k) => successors.get(positions === undefined ? k : (positions[k] as number)),
      zones,
      receivedAt,
    );
    await markDayRanges(trx, ranges);
  }
  return { outcomes, ofKnownUsers };
}

/**
 * `storePreparedSettingsVersions` of a batch in a transaction of its own, the file import's: a
 * batch planned for COPY (real PostgreSQL) goes, when the caller knows its tenants' zones
 * (`plannedZones`), as ONE message (`storeNewUsersBatch`: the transaction never waits for Node),
 * or else in TWO round trips (`beginSettingsBatch`, `commitNewUsersBatch`) instead of nine; a
 * batch whose users prove not all new goes on by the general path (after the one message's check
 * refused it, in a transaction of its own). Anything else: the general path.
 */
export async function storePreparedBatchAlone(
  db: Db,
  prepared: PreparedSettingsVersions,
  receivedAt: Date,
  plannedZones?: ReadonlyMap<string, string>,
): Promise<StoreOutcome> {
  const { plan } = prepared;
  if (db.isTransaction || !prepared.byCopy || plan?.versionsText === undefined)
    return inTransaction(db, (trx) => storePreparedSettingsVersions(trx, prepared, receivedAt));
  const allStored = (): StoreOutcome => {
    const outcomes = prepared.outcomes.slice();
    for (const i of prepared.firstOf) outcomes[i] = { status: 'stored' };
    return { outcomes, ofKnownUsers: 0 };
  };
  const successorOf = (j: number) => plan.successors.get(j);
  return (db as Kysely<Database>).connection().execute(async (conn) => {
    try {
      if (plannedZones !== undefined) {
        const ranges = touchedRanges(prepared.toInsert, successorOf, plannedZones, receivedAt);
        if (await storeNewUsersBatch(conn, prepared.toInsert, plan, plannedZones, ranges)) return allStored();
      }
      const { zones, known } = await beginSettingsBatch(conn, prepared.toInsert);
      if (known.size > 0) {
        const outcome = await storePreparedSettingsVersions(conn, prepared, receivedAt);
        await sql`COMMIT`.execute(conn);
        return outcome;
      }
      await commitNewUsersBatch(conn, plan, touchedRanges(prepared.toInsert, successorOf, zones, receivedAt));
      return allStored();
    } catch (error) {
      // Whatever failed, the connection goes back to the pool outside any transaction.
      await sql`ROLLBACK`.execute(conn).catch(() => {});
      throw error;
    }
  });
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
