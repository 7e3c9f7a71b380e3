import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { CompiledQuery, sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import { compareCodePoints } from '../../domain/code-point-order.ts';
import type { StoredSettingsVersion } from '../../domain/settings-version.ts';
import { InputError } from '../../errors.ts';
import type { Db } from '../database.ts';
import { copyText } from './login-event-copy.repository.ts';
import { type NewUsersPlan, nullable, planNewUsers, userKey } from './settings-new-users-plan.ts';

/** A version on its way in, with the JSON texts of its settings and reasons already made. */
export interface StagedSettingsVersion extends StoredSettingsVersion {
  /** `JSON.stringify(settings)`. */
  settingsJson: string;
  /** `JSON.stringify(reasons)` (the same text for every version of one settings shape). */
  reasonsJson: string;
}

export interface StoredBatch {
  /** Positions (in the input) of the versions whose key was already stored: nothing written. */
  notInserted: number[];
  /** How many versions of the batch belong to users that already had a stored version. */
  ofKnownUsers: number;
  /** Position -> the instant of the user's next version, for the stored versions that have one. */
  successors: Map<number, Date>;
  /** The batch's tenants and their time zones, read with their rows locked (`FOR KEY SHARE`). */
  zones: Map<string, string>;
}

const ROWS_PER_CHUNK = 2_000;
const STAGING = 'settings_version_staging';

/** Fills the staging table by COPY (real PostgreSQL): one text row per version, in input order. */
async function copyIntoStaging(trx: Db, versions: readonly StagedSettingsVersion[]): Promise<void> {
  await copyRows(
    trx,
    `${STAGING} (ord, tenant_id, user_id, effective_ms, active, email, last_name, settings, license, billing, record_calls, reasons)`,
    versions,
    (v, i) =>
      `${i}\t${copyText(v.tenantId)}\t${copyText(v.userId)}\t${v.effectiveAt.getTime()}\t${v.active ? 't' : 'f'}\t${nullable(v.email)}\t${nullable(v.lastName)}\t${copyText(v.settingsJson)}\t${v.license}\t${v.billing}\t${v.recordCalls ? 't' : 'f'}\t${copyText(v.reasonsJson)}\n`,
  );
}

/** Fills the staging table with one `unnest` statement (the embedded database has no COPY FROM STDIN). */
async function unnestIntoStaging(trx: Db, versions: readonly StagedSettingsVersion[]): Promise<void> {
  await sql`
    INSERT INTO settings_version_staging
      (ord, tenant_id, user_id, effective_ms, active, email, last_name, settings, license, billing, record_calls, reasons)
    SELECT * FROM unnest(
      ${versions.map((_, i) => i)}::int[], ${versions.map((v) => v.tenantId)}::text[],
      ${versions.map((v) => v.userId)}::text[], ${versions.map((v) => v.effectiveAt.getTime())}::bigint[],
      ${versions.map((v) => v.active)}::bool[], ${versions.map((v) => v.email)}::text[],
      ${versions.map((v) => v.lastName)}::text[], ${versions.map((v) => v.settingsJson)}::json[],
      ${versions.map((v) => v.license)}::text[], ${versions.map((v) => v.billing)}::text[],
      ${versions.map((v) => v.recordCalls)}::bool[], ${versions.map((v) => v.reasonsJson)}::json[])
  `.execute(trx);
}

const instant = sql`'epoch'::timestamptz + s.effective_ms * interval '1 millisecond'`;

/**
 * The transaction's settings writers of these tenants serialised (the trigger's advisory locks, in
 * its order: the repository writes its versions' intervals itself, see `VERSIONS_LEAF`) and the
 * tenants' rows locked as a foreign key's check would (FOR KEY SHARE), once per batch and in ONE
 * statement (each round trip holds the batch's transaction open while Node answers:
 * docs/performance/settings.md, ninth pass): the locks are an InitPlan of the filter, so they are
 * taken before the first tenant row is returned and locked. Migration 0013 dropped the per-row
 * foreign key. A tenant that does not exist refuses the batch, named.
 */
async function lockTenants(
  trx: Db,
  versions: readonly StagedSettingsVersion[],
): Promise<Map<string, string>> {
  const tenants = batchTenants(versions);
  const { rows } = await lockTenantsStatement(tenants).execute(trx);
  return zonesOf(tenants, rows);
}

/** The batch's tenants, in code-point order (the order their locks are taken in). */
export const batchTenants = (versions: readonly StagedSettingsVersion[]) =>
  [...new Set(versions.map((v) => v.tenantId))].sort(compareCodePoints);

/** `lockTenants`' statement (a script inlines its parameters). */
export const lockTenantsStatement = (tenants: readonly string[]) => sql<{ id: string; timezone: string }>`
    SELECT id, timezone
    FROM tenants
    WHERE id = ANY (${tenants}::text[])
      AND (SELECT count(*) FROM (
             SELECT pg_advisory_xact_lock(hashtext('license-intervals:' || t.tenant_id))
             FROM unnest(${tenants}::text[]) WITH ORDINALITY AS t(tenant_id, n) ORDER BY t.n) AS locks) > 0
    ORDER BY id FOR KEY SHARE`;

/** The tenants' time zones, by id; a tenant that does not exist refuses the batch, named. */
export function zonesOf(tenants: readonly string[], rows: readonly { id: string; timezone: string }[]) {
  const found = new Map(rows.map((r) => [r.id, r.timezone]));
  const missing = tenants.filter((t) => !found.has(t));
  if (missing.length > 0) {
    throw new InputError(
      `settings versions of unknown tenant ${missing.map((t) => `"${t}"`).join(', ')}: nothing of this batch was stored`,
      'UNKNOWN_TENANT',
    );
  }
  return found;
}

/**
 * The users of `versions` that already have a stored version: one primary-key probe per user, as
 * a scalar subquery (an `EXISTS` becomes a semi-join that the planner may run as a hash join
 * reading every stored version: 27 µs per version at 100,000 and growing, against ~2).
 */
async function knownUsers(trx: Db, versions: readonly StagedSettingsVersion[]): Promise<Set<string>> {
  const users = batchUsers(versions);
  const { rows } = await knownUsersStatement(
    users.map((v) => v.tenantId),
    users.map((v) => v.userId),
  ).execute(trx);
  return new Set(rows.map((r) => userKey({ tenantId: r.tenant_id, userId: r.user_id })));
}

/** The batch's distinct users (one version each). */
export function batchUsers(versions: readonly StagedSettingsVersion[]): StagedSettingsVersion[] {
  const users = new Map<string, StagedSettingsVersion>();
  for (const v of versions) users.set(userKey(v), v);
  return [...users.values()];
}

/** `knownUsers`' statement (a script inlines its parameters): the users are `tenants[i]`, `users[i]`. */
export const knownUsersStatement = (tenants: readonly string[], users: readonly string[]) => sql<{
  tenant_id: string;
  user_id: string;
}>`
    SELECT u.tenant_id, u.user_id FROM unnest(${tenants}::text[], ${users}::text[]) AS u(tenant_id, user_id)
    WHERE (SELECT true FROM settings_versions v WHERE v.tenant_id = u.tenant_id AND v.user_id = u.user_id LIMIT 1)
  `;

/** COPY of binary data (`BinaryCopyRows`: header, rows, trailer) into `table (columns)` on the transaction's connection. */
async function copyBinary(trx: Db, target: string, data: Buffer): Promise<void> {
  const stream = copyFrom(`COPY ${target} FROM STDIN (FORMAT binary)`);
  const done = finished(stream);
  // pg runs an object with `submit` (a pg-copy-streams stream) on the transaction's connection.
  await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
  stream.end(data);
  await done;
}

/** COPY of text rows into `table (columns)` on the transaction's connection, in chunks. */
async function copyRows<T>(
  trx: Db,
  target: string,
  rows: readonly T[],
  line: (row: T, i: number) => string,
): Promise<void> {
  const stream = copyFrom(`COPY ${target} FROM STDIN`);
  const done = finished(stream);
  // pg runs an object with `submit` (a pg-copy-streams stream) on the transaction's connection.
  await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
  let chunk = '';
  for (let i = 0; i < rows.length; i++) {
    chunk += line(rows[i] as T, i);
    if ((i + 1) % ROWS_PER_CHUNK === 0) {
      if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
      chunk = '';
    }
  }
  stream.end(chunk);
  await done;
}

/**
 * The one partition of `settings_versions` (migration 0017), which this repository writes instead
 * of the partitioned table: a statement naming the partition fires none of the partitioned
 * table's statement triggers, so PostgreSQL makes no transition table of the rows for the
 * license-interval trigger, whose work the repository does itself (new users' intervals computed
 * in Node, known users' by `license_intervals_refresh_users`). Readers read `settings_versions`.
 */
const VERSIONS_LEAF = 'settings_versions_all';

export const VERSION_COLUMNS = `${VERSIONS_LEAF} (tenant_id, user_id, effective_at, active, email, last_name, settings, license, billing, record_calls, reasons)`;
export const INTERVAL_COLUMNS =
  'license_intervals (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)';

/**
 * New users' versions and intervals written straight into their tables: nothing to judge. COPY
 * when the plan carries its text (made before the transaction), else `unnest`.
 */
async function insertNewUsers(
  trx: Db,
  versions: readonly StagedSettingsVersion[],
  plan: NewUsersPlan,
): Promise<void> {
  const { intervals } = plan;
  if (plan.versionsText !== undefined) {
    await copyBinary(trx, VERSION_COLUMNS, plan.versionsText);
    if (plan.intervalsText !== undefined && plan.intervalsText.length > 0)
      await copyBinary(trx, INTERVAL_COLUMNS, plan.intervalsText);
    return;
  }
  await sql`
    INSERT INTO ${sql.table(VERSIONS_LEAF)}
      (tenant_id, user_id, effective_at, active, email, last_name, settings, license, billing, record_calls, reasons)
    SELECT * FROM unnest(
      ${versions.map((v) => v.tenantId)}::text[], ${versions.map((v) => v.userId)}::text[],
      ${versions.map((v) => v.effectiveAt.toISOString())}::timestamptz[], ${versions.map((v) => v.active)}::bool[],
      ${versions.map((v) => v.email)}::text[], ${versions.map((v) => v.lastName)}::text[],
      ${versions.map((v) => v.settingsJson)}::json[], ${versions.map((v) => v.license)}::text[],
      ${versions.map((v) => v.billing)}::text[], ${versions.map((v) => v.recordCalls)}::bool[],
      ${versions.map((v) => v.reasonsJson)}::json[])
  `.execute(trx);
  if (intervals.length === 0) return;
  await sql`
    INSERT INTO license_intervals (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)
    SELECT * FROM unnest(
      ${intervals.map((r) => r.tenantId)}::text[], ${intervals.map((r) => r.userId)}::text[],
      ${intervals.map((r) => r.interval.validFrom.toISOString())}::timestamptz[],
      ${intervals.map((r) => (r.interval.validTo === null ? 'infinity' : r.interval.validTo.toISOString()))}::timestamptz[],
      ${intervals.map((r) => r.interval.license)}::text[], ${intervals.map((r) => r.interval.billing)}::text[],
      ${intervals.map((r) => r.interval.recordCalls)}::bool[])
  `.execute(trx);
}

/**
 * Known users' versions (users with stored versions), judged by the database: staged (COPY when
 * `byCopy`, else `unnest`) into a per-session temp table, then `INSERT ... ON CONFLICT DO NOTHING`
 * returning only the positions NOT inserted, `license_intervals_refresh_users` for the users that
 * got a version (stale rows deleted, changed ones upserted), and one index probe per version for
 * its successor. Positions are those in `versions`.
 */
async function storeKnownUsers(
  trx: Db,
  versions: readonly StagedSettingsVersion[],
  byCopy: boolean,
): Promise<Omit<StoredBatch, 'zones' | 'ofKnownUsers'>> {
  await sql`
    CREATE TEMP TABLE IF NOT EXISTS settings_version_staging (
      ord int NOT NULL, tenant_id text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
      effective_ms bigint NOT NULL, active boolean NOT NULL, email text, last_name text, settings json NOT NULL,
      license text NOT NULL, billing text NOT NULL, record_calls boolean NOT NULL, reasons json NOT NULL
    ) ON COMMIT DELETE ROWS`.execute(trx);
  // A caller's transaction may store several batches: each starts from an empty table.
  await sql`TRUNCATE settings_version_staging`.execute(trx);
  await (byCopy ? copyIntoStaging : unnestIntoStaging)(trx, versions);
  const notInserted = await sql<{ ord: number }>`
    WITH ins AS (
      INSERT INTO ${sql.table(VERSIONS_LEAF)} (tenant_id, user_id, effective_at, active, email, last_name, settings, license,
        billing, record_calls, reasons)
      SELECT s.tenant_id, s.user_id, ${instant}, s.active, s.email, s.last_name, s.settings, s.license, s.billing,
             s.record_calls, s.reasons
      FROM settings_version_staging s
      ON CONFLICT (tenant_id, user_id, effective_at) DO NOTHING
      RETURNING tenant_id, user_id, effective_at
    )
    SELECT s.ord FROM settings_version_staging s
    WHERE NOT EXISTS (SELECT 1 FROM ins
                      WHERE ins.tenant_id = s.tenant_id AND ins.user_id = s.user_id AND ins.effective_at = ${instant})
  `.execute(trx);
  const notStored = notInserted.rows.map((r) => r.ord);
  if (notStored.length < versions.length) {
    // One entry per version NEW to the user: the recompute tells a user whose every version is
    // new by that count (none here: every user has a stored version).
    await sql`
      SELECT license_intervals_refresh_users(array_agg(s.tenant_id), array_agg(s.user_id))
      FROM settings_version_staging s
      WHERE s.ord <> ALL (${notStored}::int[])
    `.execute(trx);
  }
  const next = await sql<{ ord: number; next_at: Date }>`
    SELECT x.ord, x.next_at FROM (
      SELECT s.ord, (SELECT v.effective_at FROM settings_versions v
                     WHERE v.tenant_id = s.tenant_id AND v.user_id = s.user_id AND v.effective_at > ${instant}
                     ORDER BY v.effective_at LIMIT 1) AS next_at
      FROM settings_version_staging s
    ) x
    WHERE x.next_at IS NOT NULL
  `.execute(trx);
  return { notInserted: notStored, successors: new Map(next.rows.map((r) => [r.ord, r.next_at])) };
}

/**
 * Stores a batch of versions whose keys are distinct, inside `trx`, and keeps `license_intervals`
 * equal to them (migration 0008's rules) itself: it writes the partition (`VERSIONS_LEAF`), which
 * the trigger does not follow:
 * 1. the tenants' advisory locks taken (the trigger's, in the same order), so no other settings
 *    writer of these tenants runs between the probe below and the commit;
 * 2. ONE probe tells the users that already have a stored version (`known`) from brand-new ones;
 * 3. brand-new users (the bulk of a first import): nothing can conflict (keys distinct, no stored
 *    version, tenants locked), so their versions go straight into the partition and their
 *    intervals, computed in Node from their versions, into `license_intervals` (COPY when
 *    `byCopy`, else `unnest`); a version's successor is the user's next one in the batch.
 *    `planned`: `planNewUsers(versions, undefined, byCopy)` made before the transaction, used
 *    when every user of the batch is new (nothing left for Node to compute between statements);
 * 4. known users' versions: `storeKnownUsers` (staged, judged by `ON CONFLICT`, recomputed).
 */
export async function storeSettingsVersionBatch(
  trx: Db,
  versions: readonly StagedSettingsVersion[],
  byCopy: boolean,
  planned?: NewUsersPlan,
): Promise<StoredBatch> {
  if (versions.length === 0)
    return { notInserted: [], ofKnownUsers: 0, successors: new Map(), zones: new Map() };
  const zones = await lockTenants(trx, versions);
  const known = await knownUsers(trx, versions);
  const fresh: number[] = [];
  const old: number[] = [];
  if (known.size === 0) {
    for (let i = 0; i < versions.length; i++) fresh.push(i);
  } else {
    versions.forEach((v, i) => {
      (known.has(userKey(v)) ? old : fresh).push(i);
    });
  }
  const allFresh = fresh.length === versions.length;
  const plan =
    allFresh && planned !== undefined && (planned.versionsText !== undefined) === byCopy
      ? planned
      : planNewUsers(versions, fresh, byCopy);
  // Positions in `versions` (a subset's too); a `planned` plan is only used whole (never added to).
  const successors = plan.successors;
  const notInserted: number[] = [];
  if (fresh.length > 0) {
    await insertNewUsers(
      trx,
      allFresh ? versions : fresh.map((i) => versions[i] as StagedSettingsVersion),
      plan,
    );
  }
  if (old.length > 0) {
    const stored = await storeKnownUsers(
      trx,
      old.map((i) => versions[i] as StagedSettingsVersion),
      byCopy,
    );
    for (const j of stored.notInserted) notInserted.push(old[j] as number);
    for (const [j, at] of stored.successors) successors.set(old[j] as number, at);
  }
  return { notInserted: notInserted.sort((a, b) => a - b), ofKnownUsers: old.length, successors, zones };
}
