import type { Db } from '../db/database.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import { dayOf, monthOf } from '../domain/calendar.ts';
import { InputError } from '../errors.ts';
import { NotFoundError } from '../insight/errors.ts';
import { type ChargeExplanation, explainCharges } from '../insight/explain.service.ts';

export interface UserPage {
  tenantId: string;
  userId: string;
  scope: { day: string } | { month: string };
  explanation?: ChargeExplanation;
  /** Why there is nothing to explain (unknown user, day out of range…): shown on the page. */
  error?: string;
  status: 200 | 400 | 404;
}

/**
 * The explain view of one user (`explainCharges`) for a day, or a month (default: the tenant's
 * current month at `now`). An unknown tenant is an error of the page (404); a bad day, a month
 * out of range or an unknown user is shown on the page beside the form to pick another.
 */
export async function consoleUser(
  db: Db,
  q: { tenantId: string; userId: string; day?: string | undefined; month?: string | undefined; now: Date },
): Promise<UserPage> {
  const tenant = await findTenant(db, q.tenantId);
  if (!tenant) throw new NotFoundError(`unknown tenant "${q.tenantId}"`, 'UNKNOWN_TENANT');
  const scope =
    q.day !== undefined ? { day: q.day } : { month: q.month ?? monthOf(dayOf(q.now, tenant.timezone)) };
  const base = { tenantId: tenant.id, userId: q.userId, scope };
  try {
    const explanation = await explainCharges(db, {
      tenantId: tenant.id,
      userId: q.userId,
      ...scope,
      now: q.now,
    });
    return { ...base, explanation, status: 200 };
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    return { ...base, error: error.message, status: error.code === 'UNKNOWN_USER' ? 404 : 400 };
  }
}
