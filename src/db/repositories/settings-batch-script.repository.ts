import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../database.ts';
import { inlineParameters, runScript, type ScriptResult } from '../query-script.ts';
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
 * A file-import batch of brand-new users in ONE round trip (`storeNewUsersBatch`, when Node could
 * plan it whole: docs/performance/settings.md, fourteenth pass) or TWO (real PostgreSQL, a
 * connection of its own, outside Kysely's transaction): `beginSettingsBatch` sends BEGIN, the
 * tenants' locks and the probe as one message, `commitNewUsersBatch` both COPYs, the day marks
 * and COMMIT as another. The statements are those of `storeSettingsVersionBatch` and
 * `markDayRanges`, with their parameters as literals (eleventh pass).
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
  const [, locked, , probed] = await runScript(conn, [
    'BEGIN',
    inlined(lockTenantsStatement(tenants), conn),
    ...withoutBitmapScans(probeStatement(versions, conn)),
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

/** The probe (`knownUsers`) of the batch's distinct users, inlined. */
function probeStatement(versions: readonly StagedSettingsVersion[], conn: Db): string {
  const users = batchUsers(versions);
  return inlined(
    knownUsersStatement(
      users.map((v) => v.tenantId),
      users.map((v) => v.userId),
    ),
    conn,
  );
}

/** `statement` planned without bitmap scans, the setting's default back after it (see `beginSettingsBatch`). */
const withoutBitmapScans = (statement: string) => [
  'SET LOCAL enable_bitmapscan = off',
  statement,
  'SET LOCAL enable_bitmapscan TO DEFAULT',
];

/**
 * Brand-new users' versions and intervals (a plan made for COPY: `plan.versionsText`), the day
 * marks of `ranges` and COMMIT, as ONE message on the connection `beginSettingsBatch` opened.
 */
export async function commitNewUsersBatch(
  conn: Db,
  plan: NewUsersPlan,
  ranges: readonly TenantDayRange[],
): Promise<void> {
  const { statements, copies } = writeAndCommit(conn, plan, ranges);
  expectCommit(await runScript(conn, statements, copies));
}

/**
 * A batch of brand-new users in ONE message, the transaction whole (migration
 * `0018_settings_batch_expectation`): BEGIN, the tenants' locks, a check, both COPYs (their data
 * written behind the message: `runScript`'s `pipelined`), the day marks of `ranges` and COMMIT.
 * The transaction then never waits for Node while it holds its tenants' locks. Node planned it
 * before asking: every user new, each tenant in the zone of `zones` (which `ranges` were cut in);
 * the check, a statement of its own after the locks, fails the batch (SQLSTATE `BL001`) when
 * either no longer holds. Then nothing was written, the transaction is rolled back and this
 * answers false: the caller takes the general path (`beginSettingsBatch`). True: committed.
 */
export async function storeNewUsersBatch(
  conn: Db,
  versions: readonly StagedSettingsVersion[],
  plan: NewUsersPlan,
  zones: ReadonlyMap<string, string>,
  ranges: readonly TenantDayRange[],
): Promise<boolean> {
  const tenants = batchTenants(versions);
  const planned = tenants.map((t) => zones.get(t) ?? '');
  const changedZones = inlined(
    sql`SELECT 1 FROM unnest(${tenants}::text[], ${planned}::text[]) AS z(id, timezone)
        LEFT JOIN tenants t ON t.id = z.id WHERE t.timezone IS DISTINCT FROM z.timezone`,
    conn,
  );
  const check = `SELECT settings_batch_unexpected('a user has a version, or a tenant a new zone, or is gone')
    FROM (${changedZones} UNION ALL SELECT 1 FROM (${probeStatement(versions, conn)} LIMIT 1) AS known LIMIT 1) AS x`;
  const { statements, copies } = writeAndCommit(conn, plan, ranges);
  try {
    expectCommit(
      await runScript(
        conn,
        ['BEGIN', inlined(lockTenantsStatement(tenants), conn), ...withoutBitmapScans(check), ...statements],
        copies,
        true,
      ),
    );
    return true;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'BL001') throw error;
    await runScript(conn, ['ROLLBACK']);
    return false;
  }
}

/** The statements (and COPY payloads) that write a planned batch of new users and commit it. */
function writeAndCommit(conn: Db, plan: NewUsersPlan, ranges: readonly TenantDayRange[]) {
  if (plan.versionsText === undefined) throw new Error('a batch of new users needs a plan made for COPY');
  const statements = [`COPY ${VERSION_COLUMNS} FROM STDIN (FORMAT binary)`];
  const copies = [plan.versionsText];
  if (plan.intervalsText !== undefined && plan.intervalsText.length > 0) {
    statements.push(`COPY ${INTERVAL_COLUMNS} FROM STDIN (FORMAT binary)`);
    copies.push(plan.intervalsText);
  }
  const marks = markDayRangesStatement(ranges);
  if (marks !== undefined) statements.push(inlined(marks, conn));
  statements.push('COMMIT');
  return { statements, copies };
}

/** COMMIT of a transaction that failed earlier answers ROLLBACK, not an error. */
function expectCommit(results: readonly ScriptResult[]): void {
  const tag = results.at(-1)?.command;
  if (tag !== 'COMMIT') throw new Error(`the settings batch did not commit (the server answered ${tag})`);
}
