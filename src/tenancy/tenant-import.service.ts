import type { Readable } from 'node:stream';
import type { Db } from '../db/database.ts';
import { findTenants, insertMissingTenants } from '../db/repositories/tenant.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import { describeZodError } from '../domain/settings.ts';
import type { Tenant } from '../domain/tenant.ts';
import { batched, isBadLine, parseJsonLine, readLines } from '../ingest/line-source.ts';
import { tenantSchema } from './tenant.service.ts';

/** A line of the file that was not imported, and why (naming the field where there is one). */
export interface TenantRefusal {
  lineNo: number;
  reason: string;
}

export interface TenantImportResult {
  created: number;
  /** Lines identical to a tenant that existed already (or to an earlier line of the file). */
  unchanged: number;
  refused: number;
}

const BATCH_SIZE = 1000;

const FIELDS = ['name', 'timezone', 'currency', 'cutoffHour'] as const;

/** The fields in which `line` differs from `other`, e.g. `name "Acme" (stored "ACME")`. */
function differences(other: Tenant, line: Tenant, otherLabel: string): string[] {
  return FIELDS.filter((f) => other[f] !== line[f]).map(
    (f) => `${f} ${JSON.stringify(line[f])} (${otherLabel} ${JSON.stringify(other[f])})`,
  );
}

/** One line judged on its own: a tenant, or the reason it is refused. */
function parseTenantLine(text: string): { ok: true; tenant: Tenant } | { ok: false; reason: string } {
  const json = parseJsonLine(text);
  if (!json.ok) return json;
  const parsed = tenantSchema.safeParse(json.value);
  if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
  return { ok: true, tenant: parsed.data };
}

/**
 * Imports tenants from NDJSON, one `{"id","name","timezone","currency","cutoffHour"?}` a line
 * (the fields and rules of `billing tenants add`). Each line is judged on its own and exactly
 * once: a new id is created; a line identical to the stored tenant (or to an earlier line of the
 * file) is unchanged; a line whose id exists with other values is refused naming the fields that
 * differ, and so is a line that is not a tenant (bad bytes, bad JSON, a bad field: the reason names
 * the field). Refusals never cost a good line. Lines are stored a batch per transaction, so
 * re-importing the same file changes nothing; `onRefused` sees every refusal in line order.
 */
export async function importTenantsFile(
  db: Db,
  input: Readable,
  onRefused: (refusal: TenantRefusal) => void,
): Promise<TenantImportResult> {
  const result: TenantImportResult = { created: 0, unchanged: 0, refused: 0 };
  for await (const lines of batched(readLines(input), BATCH_SIZE)) {
    const refusals: TenantRefusal[] = [];
    const refuse = (lineNo: number, reason: string) => refusals.push({ lineNo, reason });
    /** The first good line of each id in this batch; later ones are compared with it. */
    const first = new Map<string, { lineNo: number; tenant: Tenant }>();
    for (const line of lines) {
      const parsed = isBadLine(line)
        ? { ok: false as const, reason: line.reason }
        : parseTenantLine(line.text);
      if (!parsed.ok) {
        refuse(line.lineNo, parsed.reason);
        continue;
      }
      const earlier = first.get(parsed.tenant.id);
      if (earlier === undefined) {
        first.set(parsed.tenant.id, { lineNo: line.lineNo, tenant: parsed.tenant });
        continue;
      }
      const diff = differences(earlier.tenant, parsed.tenant, `line ${earlier.lineNo}`);
      if (diff.length === 0) result.unchanged += 1;
      else
        refuse(
          line.lineNo,
          `id "${parsed.tenant.id}" is on line ${earlier.lineNo} with other values: ${diff.join(', ')}`,
        );
    }
    const candidates = [...first.values()];
    const { created, existing } = await inTransaction(db, async (trx) => {
      const created = await insertMissingTenants(
        trx,
        candidates.map((c) => c.tenant),
      );
      const others = candidates.filter((c) => !created.has(c.tenant.id)).map((c) => c.tenant.id);
      return { created, existing: await findTenants(trx, others) };
    });
    result.created += created.size;
    for (const { lineNo, tenant } of candidates) {
      if (created.has(tenant.id)) continue;
      const stored = existing.get(tenant.id) as Tenant;
      const diff = differences(stored, tenant, 'stored');
      if (diff.length === 0) result.unchanged += 1;
      else refuse(lineNo, `tenant "${tenant.id}" exists with other values: ${diff.join(', ')}`);
    }
    refusals.sort((a, b) => a.lineNo - b.lineNo);
    result.refused += refusals.length;
    for (const r of refusals) onRefused(r);
  }
  return result;
}
