import type { Queue } from 'bullmq';
import { enqueueReplay } from '../../jobs/enqueue-replay.ts';
import { closePeriod } from '../billing/close-period.service.ts';
import { DayNotBillableError } from '../billing/errors.ts';
import type { Db } from '../db/database.ts';
import {
  type ConsoleOutcome,
  findConsoleAudit,
  insertConsoleAudit,
} from '../db/repositories/console-audit.repository.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import { billableAt, isValidDay } from '../domain/calendar.ts';
import { InputError } from '../errors.ts';
import { NotFoundError } from '../insight/errors.ts';

export interface ActionResult {
  outcome: ConsoleOutcome;
  message: string;
  /** The `console_audit` row that records it. */
  auditId: string;
}

/**
 * Runs an action and records it in `console_audit` whatever happens: done, refused (an
 * InputError: the message says why) or failed (anything else, which is then thrown on).
 */
async function audited(
  db: Db,
  entry: { actor: string; action: 'close-month' | 'queue-replay'; tenantId: string; subject: string },
  work: () => Promise<string>,
): Promise<ActionResult> {
  let message: string;
  try {
    message = await work();
  } catch (error) {
    const outcome: ConsoleOutcome = error instanceof InputError ? 'refused' : 'failed';
    message = (error as Error).message;
    const auditId = await insertConsoleAudit(db, { ...entry, outcome, detail: message });
    if (outcome === 'failed') throw error;
    return { outcome, message, auditId };
  }
  const auditId = await insertConsoleAudit(db, { ...entry, outcome: 'done', detail: message });
  return { outcome: 'done', message, auditId };
}

/** Closes a tenant's month as `billing close` does (`closePeriod`), recorded with who did it. */
export async function closeMonthAction(
  db: Db,
  q: { tenantId: string; month: string; now: Date; actor: string },
): Promise<ActionResult> {
  if (!(await findTenant(db, q.tenantId)))
    throw new NotFoundError(`unknown tenant "${q.tenantId}"`, 'UNKNOWN_TENANT');
  return audited(
    db,
    { actor: q.actor, action: 'close-month', tenantId: q.tenantId, subject: q.month },
    async () => {
      const { closed } = await closePeriod(db, { tenantId: q.tenantId, month: q.month, now: q.now });
      return closed
        ? `closed ${q.month} of tenant ${q.tenantId}`
        : `${q.month} of tenant ${q.tenantId} was already closed: nothing changed`;
    },
  );
}

/**
 * Queues a `replay-day` job for one tenant-day on the worker fleet, as `billing queue replay`
 * does, fixed at `now`; refused when the day is not billable yet. Recorded with who did it.
 */
/** The outcome of an earlier action, shown after the redirect that follows its POST. */
export async function actionOutcome(
  db: Db,
  tenantId: string,
  auditId: string | undefined,
): Promise<{ ok: boolean; message: string } | undefined> {
  if (auditId === undefined) return undefined;
  const entry = await findConsoleAudit(db, tenantId, auditId);
  return entry && { ok: entry.outcome === 'done', message: `${entry.outcome}: ${entry.detail}` };
}

export async function queueReplayAction(
  db: Db,
  bill: Queue | undefined,
  q: { tenantId: string; day: string; now: Date; actor: string },
): Promise<ActionResult> {
  const tenant = await findTenant(db, q.tenantId);
  if (!tenant) throw new NotFoundError(`unknown tenant "${q.tenantId}"`, 'UNKNOWN_TENANT');
  return audited(
    db,
    { actor: q.actor, action: 'queue-replay', tenantId: tenant.id, subject: q.day },
    async () => {
      if (!isValidDay(q.day)) throw new InputError(`day: invalid day "${q.day}": expected YYYY-MM-DD`);
      if (bill === undefined)
        throw new InputError('queue replay needs the job queue: start serve with REDIS_URL', 'NO_QUEUE');
      const at = billableAt(q.day, tenant.timezone, tenant.cutoffHour);
      if (q.now.getTime() < at.getTime()) throw new DayNotBillableError(tenant.id, q.day, at);
      await enqueueReplay(bill, { tenantId: tenant.id, days: [q.day], now: q.now });
      return `queued a replay-day job for ${tenant.id} ${q.day} at ${q.now.toISOString()}`;
    },
  );
}
