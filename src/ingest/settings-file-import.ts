import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import { batched, parseJsonLine, readLines } from './line-source.ts';
import {
  parseSettingsVersionLine,
  type SettingsVersion,
  storeSettingsVersions,
} from './settings-import.service.ts';

export interface SettingsFileImportResult {
  stored: number;
  unchanged: number;
  refused: { lineNo: number; reason: string }[];
}

const BATCH_SIZE = 1000;

/**
 * Imports an NDJSON file of settings versions. Each line is judged on its own: good lines are
 * stored (a batch per transaction, so a line is never half-written), bad lines are reported with
 * their line number and reason. `now` is the time of receipt (for marking back-dated days).
 */
export async function importSettingsFile(
  db: Kysely<Database>,
  input: Readable,
  now: () => Date,
): Promise<SettingsFileImportResult> {
  const result: SettingsFileImportResult = { stored: 0, unchanged: 0, refused: [] };
  const tenantIds = new Set((await listTenants(db)).map((t) => t.id));
  for await (const lines of batched(readLines(input), BATCH_SIZE)) {
    const good: { lineNo: number; version: SettingsVersion }[] = [];
    for (const line of lines) {
      const json = parseJsonLine(line.text);
      const parsed = json.ok ? parseSettingsVersionLine(json.value) : json;
      if (!parsed.ok) {
        result.refused.push({ lineNo: line.lineNo, reason: parsed.reason });
      } else if (!tenantIds.has(parsed.version.tenantId)) {
        result.refused.push({
          lineNo: line.lineNo,
          reason: `tenantId: unknown tenant "${parsed.version.tenantId}"`,
        });
      } else {
        good.push({ lineNo: line.lineNo, version: parsed.version });
      }
    }
    const receivedAt = now();
    const { outcomes } = await db.transaction().execute((trx) =>
      storeSettingsVersions(
        trx,
        good.map((g) => g.version),
        receivedAt,
      ),
    );
    outcomes.forEach((o, i) => {
      if (o.status === 'stored') result.stored += 1;
      else if (o.status === 'unchanged') result.unchanged += 1;
      else if (o.status === 'conflict') {
        result.refused.push({ lineNo: (good[i] as { lineNo: number }).lineNo, reason: o.reason });
      }
    });
  }
  result.refused.sort((a, b) => a.lineNo - b.lineNo);
  return result;
}
