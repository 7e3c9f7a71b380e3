import { sql } from 'kysely';
import type { Db } from '../database.ts';

/** One row of `license_intervals` (migration 0008); `validTo` null while open. */
export interface StoredLicenseInterval {
  userId: string;
  validFrom: Date;
  validTo: Date | null;
  license: string;
  billing: string;
  recordCalls: boolean;
}

/**
 * A tenant's license intervals in (user, validFrom) order. The table is written only by the
 * database's own trigger on `settings_versions` (migration 0008); this reads it, for checks.
 */
export async function listLicenseIntervals(db: Db, tenantId: string): Promise<StoredLicenseInterval[]> {
  const { rows } = await sql<{
    user_id: string;
    valid_from: Date;
    valid_to: Date | null;
    license: string;
    billing: string;
    record_calls: boolean;
  }>`
    SELECT user_id, valid_from, CASE WHEN valid_to = 'infinity' THEN NULL ELSE valid_to END AS valid_to,
           license, billing, record_calls
    FROM license_intervals WHERE tenant_id = ${tenantId}::text
    ORDER BY user_id, valid_from
  `.execute(db);
  return rows.map((r) => ({
    userId: r.user_id,
    validFrom: r.valid_from,
    validTo: r.valid_to,
    license: r.license,
    billing: r.billing,
    recordCalls: r.record_calls,
  }));
}
