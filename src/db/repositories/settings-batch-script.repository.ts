import type { RawBuilder } from 'kysely';
import type { Db } from '../database.ts';
import { inlineParameters, runScript } from '../query-script.ts';
import { markDayRangesStatement, type TenantDayRange } from './day-revision.repository.ts';
import { type NewUsersPlan, userKey } from './settings-new-users-plan.ts';
import {
  batchTenants,
  batchUsers,
  INTERVAL_COLUMNS,
  knownUsersStatement,
  lockTenantsStatement,
  type StagedSettingsVersion,
  VERSION_COLUMNS,
  zonesOf,
} from './settings-version-batch.repository.ts';

/*
 * A file-import batch of brand-new users in TWO round trips instead of nine (real PostgreSQL, a
 * connection of its own, outside Kysely's transaction): `beginSettingsBatch` sends BEGIN, the
 * tenants' locks and the probe as one message, `commitNewUsersBatch` both COPYs, the day marks
 * and COMMIT as another. The statements are those of `storeSettingsVersionBatch` and
 * `markDayRanges`, with their parameters as literals (docs/performance/settings.md, eleventh pass).
 */

/** What `beginSettingsBatch` learnt, with the transaction open and the tenants locked. */
export interface BegunBatch {
  /** The batch's tenants and their time zones (rows locked `FOR KEY SHARE`). */
  zones: Map<string, string>;
  /** Users of the batch (`userKey`) that already have a stored version. */
  known: Set<string>;
}

/** The statement's text with its parameters as literals (a script has no bind parameters). */
function inlined(statement: RawBuilder<unknown>, conn: Db): string {
  const compiled = statement.compile(conn);
  return inlineParameters(compiled.sql, compiled.parameters);
}

/**
 * BEGIN, the tenants' locks (`lockTenants`), then the probe (`knownUsers`) as ONE message: the
 * probe is a statement of its own after the locks, so its snapshot is taken once they are held.
 * The probe is planned without bitmap scans: the first import into a new database has no
 * statistics of the versions' partition, and the planner then guessed ~7 versions per user and
 * probed each user by a bitmap scan (~2 µs a version more than the primary key's index-only
 * scan: docs/performance/settings.md, thirteenth pass); the setting's default is back for the
 * rest of the transaction. A tenant that does not exist throws `UNKNOWN_TENANT` with the
 * transaction still open: the caller rolls back.
 */
export async function beginSettingsBatch(
  conn: Db,
  versions: readonly StagedSettingsVersion[],
): Promise<BegunBatch> {
  const tenants = batchTenants(versions);
  const users = batchUsers(versions);
  const lock = inlined(lockTenantsStatement(tenants), conn);
  const probe = inlined(
    knownUsersStatement(
      users.map((v) => v.tenantId),
      users.map((v) => v.userId),
    ),
    conn,
  );
  const [, locked, , probed] = await runScript(conn, [
    'BEGIN',
    lock,
    'SET LOCAL enable_bitmapscan = off',
    probe,
    'SET LOCAL enable_bitmapscan TO DEFAULT',
  ]);
  const zones = zonesOf(
    tenants,
    (locked?.rows ?? []).map(([id, timezone]) => ({ id: String(id), timezone: String(timezone) })),
  );
  const known = new Set(
    (probed?.rows ?? []).map(([tenantId, userId]) =>
      userKey({ tenantId: String(tenantId), userId: String(userId) }),
    ),
  );
  return { zones, known };
}

/**
 * Brand-new users' versions and intervals (a plan made for COPY: `plan.versionsText`), the day
 * marks of `ranges` and COMMIT, as ONE message on the connection `beginSettingsBatch` opened.
 */
export async function commitNewUsersBatch(
  conn: Db,
  plan: NewUsersPlan,
  ranges: readonly TenantDayRange[],
): Promise<void> {
  if (plan.versionsText === undefined) throw new Error('commitNewUsersBatch needs a plan made for COPY');
  const statements = [`COPY ${VERSION_COLUMNS} FROM STDIN (FORMAT binary)`];
  const copies = [plan.versionsText];
  if (plan.intervalsText !== undefined && plan.intervalsText.length > 0) {
    statements.push(`COPY ${INTERVAL_COLUMNS} FROM STDIN (FORMAT binary)`);
    copies.push(plan.intervalsText);
  }
  const marks = markDayRangesStatement(ranges);
  if (marks !== undefined) statements.push(inlined(marks, conn));
  statements.push('COMMIT');
  const results = await runScript(conn, statements, copies);
  // COMMIT of a transaction that failed earlier answers ROLLBACK, not an error.
  const tag = results.at(-1)?.command;
  if (tag !== 'COMMIT') throw new Error(`the settings batch did not commit (the server answered ${tag})`);
}
