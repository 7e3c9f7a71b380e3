import { sql } from 'kysely';
import { dayRange } from '../../domain/calendar.ts';
import { parseMinor } from '../../domain/money.ts';
import type { Db } from '../database.ts';
import { type ChargeLineSqlRow, chargeLineColumns, chargeOfLine } from './charge-line.repository.ts';

/** A stored settings version of one user, as explain shows it. */
export interface UserVersion {
  effectiveAt: Date;
  active: boolean;
  license: string;
  /** The effective billing mode (monthly for licenses that cannot be billed daily). */
  billing: string;
  recordCalls: boolean;
  settings: Record<string, unknown>;
  reasons: string[];
}

/** Every settings version of a user, oldest first (the primary key order). */
export async function listUserVersions(db: Db, tenantId: string, userId: string): Promise<UserVersion[]> {
  const rows = await db
    .selectFrom('settings_versions')
    .select(['effective_at', 'active', 'license', 'billing', 'record_calls', 'settings', 'reasons'])
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .orderBy('effective_at')
    .execute();
  return rows.map((r) => ({
    effectiveAt: r.effective_at,
    active: r.active,
    license: r.license,
    billing: r.billing,
    recordCalls: r.record_calls,
    settings: r.settings as Record<string, unknown>,
    reasons: r.reasons,
  }));
}

export interface UserDayActivity {
  day: string;
  firstLoginAt: Date;
  lastLoginAt: Date;
  loginCount: number;
}

/**
 * The user's daily activity rows of days `from`..`to`: one descent of the primary key
 * (tenant_id, day, user_id) per day (`day = ANY`), never the range of every user's rows of the
 * days in between (half a million keys per day at 1M users).
 */
export async function listUserActivity(
  db: Db,
  tenantId: string,
  userId: string,
  from: string,
  to: string,
): Promise<UserDayActivity[]> {
  const { rows } = await sql<{ day: string; first_login_at: Date; last_login_at: Date; login_count: number }>`
    SELECT day, first_login_at, last_login_at, login_count FROM daily_activity
    WHERE tenant_id = ${tenantId}::text AND day = ANY (${dayRange(from, to)}::date[]) AND user_id = ${userId}::text
    ORDER BY day
  `.execute(db);
  return rows.map((r) => ({
    day: r.day,
    firstLoginAt: r.first_login_at,
    lastLoginAt: r.last_login_at,
    loginCount: r.login_count,
  }));
}

export interface LoginEvidence {
  eventId: string;
  occurredAt: Date;
  source: string;
  receivedAt: Date;
}

/** The first `limit` login events of a user-day, by time of occurrence. */
export async function listUserDayLogins(
  db: Db,
  tenantId: string,
  userId: string,
  day: string,
  limit: number,
): Promise<LoginEvidence[]> {
  const rows = await db
    .selectFrom('login_events')
    .select(['event_id', 'occurred_at', 'source', 'received_at'])
    .where('tenant_id', '=', tenantId)
    .where('day', '=', day)
    .where('user_id', '=', userId)
    .orderBy('occurred_at')
    .orderBy('event_id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    eventId: r.event_id,
    occurredAt: r.occurred_at,
    source: r.source,
    receivedAt: r.received_at,
  }));
}

export interface UserRunLine {
  runId: string;
  item: string;
  billing: string;
  amount: number;
  unitPrice: number;
  priceBookId: string;
}

/** The user's lines in the given runs (one primary-key lookup per run). */
export async function listUserLinesOfRuns(
  db: Db,
  runIds: readonly string[],
  userId: string,
): Promise<UserRunLine[]> {
  if (runIds.length === 0) return [];
  const { rows } = await sql<ChargeLineSqlRow & { run_id: string }>`
    SELECT run_id::text AS run_id, ${chargeLineColumns}
    FROM charge_lines
    WHERE run_id = ANY (${[...runIds]}::bigint[]) AND user_id = ${userId}::text
    ORDER BY run_id, item
  `.execute(db);
  return rows.map((r) => ({ runId: r.run_id, ...chargeOfLine(r) }));
}

export interface UserAdjustment {
  runId: string;
  day: string;
  period: string;
  item: string;
  billing: string;
  amount: number;
}

/** The user's adjustment lines invoiced in `period`, or (with `day`) correcting that day. */
export async function listUserAdjustments(
  db: Db,
  tenantId: string,
  userId: string,
  where: { period: string } | { day: string },
): Promise<UserAdjustment[]> {
  let q = db
    .selectFrom('adjustment_lines')
    .select(['run_id', 'day', 'period', 'item', 'billing', 'amount'])
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId);
  q = 'period' in where ? q.where('period', '=', where.period) : q.where('day', '=', where.day);
  const rows = await q.orderBy('day').orderBy('run_id').orderBy('item').execute();
  return rows.map((r) => ({
    runId: String(r.run_id),
    day: r.day,
    period: r.period.trim(),
    item: r.item,
    billing: r.billing,
    amount: parseMinor(String(r.amount)),
  }));
}
