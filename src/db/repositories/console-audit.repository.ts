import type { Selectable } from 'kysely';
import type { ConsoleAuditTable, Db } from '../database.ts';

export type ConsoleAction = 'close-month' | 'queue-replay';
export type ConsoleOutcome = 'done' | 'refused' | 'failed';

export interface ConsoleAuditEntry {
  id: string;
  at: Date;
  actor: string;
  action: ConsoleAction;
  tenantId: string;
  /** The month (`YYYY-MM`) or day (`YYYY-MM-DD`) acted on. */
  subject: string;
  outcome: ConsoleOutcome;
  detail: string;
}

/** Records one console action (only ever inserted); the time is the database's clock. */
export async function insertConsoleAudit(
  db: Db,
  entry: Omit<ConsoleAuditEntry, 'id' | 'at'>,
): Promise<string> {
  const row = await db
    .insertInto('console_audit')
    .values({
      actor: entry.actor,
      action: entry.action,
      tenant_id: entry.tenantId,
      subject: entry.subject,
      outcome: entry.outcome,
      detail: entry.detail.slice(0, 2000),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The latest actions on a tenant whose subject starts with `subjectPrefix` (a month covers its days), newest first. */
export async function listConsoleAudit(
  db: Db,
  tenantId: string,
  subjectPrefix: string,
  limit: number,
): Promise<ConsoleAuditEntry[]> {
  const rows = await db
    .selectFrom('console_audit')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('subject', 'like', `${subjectPrefix.replace(/[\\%_]/g, '\\$&')}%`)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(auditEntryOf);
}

/** One action of a tenant by id (to show the outcome after the redirect that follows a POST). */
export async function findConsoleAudit(
  db: Db,
  tenantId: string,
  id: string,
): Promise<ConsoleAuditEntry | undefined> {
  if (!/^[1-9][0-9]{0,17}$/.test(id)) return undefined;
  const r = await db
    .selectFrom('console_audit')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return r ? auditEntryOf(r) : undefined;
}

function auditEntryOf(r: Selectable<ConsoleAuditTable>): ConsoleAuditEntry {
  return {
    id: r.id,
    at: r.at,
    actor: r.actor,
    action: r.action,
    tenantId: r.tenant_id,
    subject: r.subject,
    outcome: r.outcome,
    detail: r.detail,
  };
}
