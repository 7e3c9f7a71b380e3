import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { CompiledQuery, sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import type { StoredSettingsVersion } from '../../domain/settings-version.ts';
import type { Db } from '../database.ts';
import { copyText } from './login-event-copy.repository.ts';

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
  /** Position -> the instant of the user's next version, for the stored versions that have one. */
  successors: Map<number, Date>;
}

const ROWS_PER_CHUNK = 2_000;
const STAGING = 'settings_version_staging';

/** Whether the server takes COPY FROM STDIN: real PostgreSQL does, the embedded PGlite does not. */
export async function acceptsCopy(db: Db): Promise<boolean> {
  const { rows } = await sql<{ v: string }>`SELECT version() AS v`.execute(db);
  return !String(rows[0]?.v).includes('PGlite');
}

const nullable = (s: string | null) => (s === null ? '\\N' : copyText(s));

/** Fills the staging table by COPY (real PostgreSQL): one text row per version, in input order. */
async function copyIntoStaging(trx: Db, versions: readonly StagedSettingsVersion[]): Promise<void> {
  const stream = copyFrom(
    `COPY ${STAGING} (ord, tenant_id, user_id, effective_ms, active, email, last_name, settings, license, billing, record_calls, reasons) FROM STDIN`,
  );
  const done = finished(stream);
  // pg runs an object with `submit` (a pg-copy-streams stream) on the transaction's connection.
  await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
  let chunk = '';
  for (let i = 0; i < versions.length; i++) {
    const v = versions[i] as StagedSettingsVersion;
    chunk += `${i}\t${copyText(v.tenantId)}\t${copyText(v.userId)}\t${v.effectiveAt.getTime()}\t${v.active ? 't' : 'f'}\t${nullable(v.email)}\t${nullable(v.lastName)}\t${copyText(v.settingsJson)}\t${v.license}\t${v.billing}\t${v.recordCalls ? 't' : 'f'}\t${copyText(v.reasonsJson)}\n`;
    if ((i + 1) % ROWS_PER_CHUNK === 0) {
      if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), done]);
      chunk = '';
    }
  }
  stream.end(chunk);
  await done;
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
      ${versions.map((v) => v.lastName)}::text[], ${versions.map((v) => v.settingsJson)}::jsonb[],
      ${versions.map((v) => v.license)}::text[], ${versions.map((v) => v.billing)}::text[],
      ${versions.map((v) => v.recordCalls)}::bool[], ${versions.map((v) => v.reasonsJson)}::jsonb[])
  `.execute(trx);
}

/**
 * Stores a batch of versions whose keys are distinct, inside `trx`, and keeps `license_intervals`
 * equal to them (migration 0008's rules) itself, set-based, instead of leaving it to the trigger
 * (migration 0009: the trigger skips a statement whose writer says it did the work):
 * 1. staged (COPY when `byCopy`, else `unnest`) into a per-session temp table;
 * 2. the tenants' advisory locks taken (the trigger's, in the same order), so no other settings
 *    writer of these tenants runs between the checks below and the commit; staged users that
 *    already have a version are flagged `known` (one primary-key probe per staged version: a
 *    scalar subquery, which the planner never turns into a join reading the whole table);
 * 3. ONE statement: `INSERT ... ON CONFLICT DO NOTHING` of the versions, and the intervals of the
 *    brand-new users computed from the staging table alone (all their versions are in it) and
 *    inserted; it returns only the positions NOT inserted (repeats and conflicts, usually none);
 * 4. the known users that got a version: `license_intervals_refresh_users` (the trigger's own
 *    recompute: stale rows deleted, changed ones upserted);
 * 5. ONE lookup of the next version of each staged one (only those that have one come back): the
 *    next staged one for a new user, one index probe for a known one.
 * Instants travel as integer ms (exact in an interval).
 */
export async function storeSettingsVersionBatch(
  trx: Db,
  versions: readonly StagedSettingsVersion[],
  byCopy: boolean,
): Promise<StoredBatch> {
  if (versions.length === 0) return { notInserted: [], successors: new Map() };
  await sql`
    CREATE TEMP TABLE IF NOT EXISTS settings_version_staging (
      ord int NOT NULL, tenant_id text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
      effective_ms bigint NOT NULL, active boolean NOT NULL, email text, last_name text, settings jsonb NOT NULL,
      license text NOT NULL, billing text NOT NULL, record_calls boolean NOT NULL, reasons jsonb NOT NULL,
      known boolean NOT NULL DEFAULT false
    ) ON COMMIT DELETE ROWS`.execute(trx);
  // A caller's transaction may store several batches: each starts from an empty table.
  await sql`TRUNCATE settings_version_staging`.execute(trx);
  await (byCopy ? copyIntoStaging : unnestIntoStaging)(trx, versions);
  await sql`
    SELECT pg_advisory_xact_lock(hashtext('license-intervals:' || t.tenant_id))
    FROM (SELECT DISTINCT tenant_id FROM settings_version_staging ORDER BY 1) t`.execute(trx);
  const known = await sql`
    UPDATE settings_version_staging s SET known = true
    WHERE (SELECT true FROM settings_versions v WHERE v.tenant_id = s.tenant_id AND v.user_id = s.user_id LIMIT 1)
  `.execute(trx);
  const instant = sql`'epoch'::timestamptz + s.effective_ms * interval '1 millisecond'`;
  await sql`SELECT set_config('billing.license_intervals_by_writer', 'on', true)`.execute(trx);
  const notInserted = await sql<{ ord: number }>`
    WITH ins AS (
      INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name, settings, license,
        billing, record_calls, reasons)
      SELECT s.tenant_id, s.user_id, ${instant}, s.active, s.email, s.last_name, s.settings, s.license, s.billing,
             s.record_calls, s.reasons
      FROM settings_version_staging s
      ON CONFLICT (tenant_id, user_id, effective_at) DO NOTHING
      RETURNING tenant_id, user_id, effective_at
    ),
    marked AS (
      SELECT s.tenant_id, s.user_id, ${instant} AS effective_at, s.active, s.license, s.billing, s.record_calls,
             lead(${instant}, 1, 'infinity') OVER w AS next_at,
             s.active AND NOT coalesce(lag(s.active) OVER w
               AND (lag(s.license) OVER w, lag(s.billing) OVER w, lag(s.record_calls) OVER w)
                   = (s.license, s.billing, s.record_calls), false) AS opens
      FROM settings_version_staging s
      WHERE NOT s.known
      WINDOW w AS (PARTITION BY s.tenant_id, s.user_id ORDER BY s.effective_ms)
    ),
    islands AS (
      SELECT m.*, count(*) FILTER (WHERE m.opens)
                    OVER (PARTITION BY m.tenant_id, m.user_id ORDER BY m.effective_at) AS island
      FROM marked m
    ),
    fresh AS (
      INSERT INTO license_intervals (tenant_id, user_id, valid_from, valid_to, license, billing, record_calls)
      SELECT tenant_id, user_id, min(effective_at), max(next_at), min(license), min(billing), bool_and(record_calls)
      FROM islands WHERE active
      GROUP BY tenant_id, user_id, island
    )
    SELECT s.ord FROM settings_version_staging s
    WHERE NOT EXISTS (SELECT 1 FROM ins
                      WHERE ins.tenant_id = s.tenant_id AND ins.user_id = s.user_id AND ins.effective_at = ${instant})
  `.execute(trx);
  await sql`SELECT set_config('billing.license_intervals_by_writer', 'off', true)`.execute(trx);
  const notStored = notInserted.rows.map((r) => r.ord);
  if (Number(known.numAffectedRows ?? 0) > 0) {
    // One entry per version NEW to a known user: the recompute tells a user whose every version
    // is new by that count.
    await sql`
      SELECT license_intervals_refresh_users(array_agg(s.tenant_id), array_agg(s.user_id))
      FROM settings_version_staging s
      WHERE s.known AND s.ord <> ALL (${notStored}::int[])
      HAVING count(*) > 0
    `.execute(trx);
  }
  // A new user's versions are all in the staging table: its successor is the next staged one.
  const next = await sql<{ ord: number; next_at: Date }>`
    SELECT x.ord, x.next_at FROM (
      SELECT s.ord,
             CASE WHEN s.known THEN (SELECT v.effective_at FROM settings_versions v
                                     WHERE v.tenant_id = s.tenant_id AND v.user_id = s.user_id AND v.effective_at > ${instant}
                                     ORDER BY v.effective_at LIMIT 1)
                  ELSE lead(${instant}) OVER (PARTITION BY s.tenant_id, s.user_id ORDER BY s.effective_ms) END AS next_at
      FROM settings_version_staging s
    ) x
    WHERE x.next_at IS NOT NULL
  `.execute(trx);
  return {
    notInserted: notStored,
    successors: new Map(next.rows.map((r) => [r.ord, r.next_at])),
  };
}
