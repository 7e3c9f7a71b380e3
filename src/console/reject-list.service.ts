import type { Db } from '../db/database.ts';
import { pageRejects, type RejectFilter } from '../db/repositories/console-rejects.repository.ts';
import type { IngestReject } from '../db/repositories/ingest-reject.repository.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import { isValidDay } from '../domain/calendar.ts';
import type { Tenant } from '../domain/tenant.ts';
import { InputError } from '../errors.ts';

export const REJECTS_PER_PAGE = 50;
export const REJECT_SOURCES = ['http', 'file', 'stream', 'settings-file'] as const;

export interface RejectsPage {
  tenants: Tenant[];
  rejects: IngestReject[];
  /** Keyset of the next (older) page, when there is one. */
  nextBeforeId: string | null;
}

/** One page of kept rejects, newest first, filtered by tenant, source, reason text and UTC day. */
export async function consoleRejects(db: Db, f: Omit<RejectFilter, 'limit'>): Promise<RejectsPage> {
  if (f.day !== undefined && !isValidDay(f.day))
    throw new InputError(`day: invalid day "${f.day}": expected YYYY-MM-DD`);
  if (f.source !== undefined && !REJECT_SOURCES.includes(f.source))
    throw new InputError(`source: expected one of ${REJECT_SOURCES.join(', ')}, got "${f.source}"`);
  if (f.beforeId !== undefined && !/^[1-9][0-9]{0,17}$/.test(f.beforeId))
    throw new InputError(`before: expected a reject id, got "${f.beforeId}"`);
  const page = await pageRejects(db, { ...f, limit: REJECTS_PER_PAGE });
  const rejects = page.slice(0, REJECTS_PER_PAGE);
  return {
    tenants: await listTenants(db),
    rejects,
    nextBeforeId: page.length > REJECTS_PER_PAGE ? (rejects.at(-1)?.id ?? null) : null,
  };
}
