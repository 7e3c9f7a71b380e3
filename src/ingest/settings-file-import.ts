import type { Readable } from 'node:stream';
import type { Db } from '../db/database.ts';
import { isTransientDatabaseError } from '../db/database-errors.ts';
import { acceptsCopy } from '../db/repositories/settings-version-batch.repository.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import { inTransaction } from '../db/transaction.ts';
import type { SettingsVersion } from '../domain/settings-version.ts';
import { eachChunkLines, isBadLine, parseJsonLine, type SplitLine } from './line-source.ts';
import {
  LicenseShapes,
  type PreparedSettingsVersions,
  parseSettingsVersionLine,
  prepareSettingsVersions,
  type StoreOutcome,
  storePreparedSettingsVersions,
} from './settings-import.service.ts';

export interface Refusal {
  lineNo: number;
  reason: string;
}

export interface SettingsFileImportResult {
  stored: number;
  unchanged: number;
  /** Every refused line, counted. */
  refusedTotal: number;
  /** The first `MAX_KEPT_REFUSALS` refused lines by line number (memory stays bounded however many). */
  refused: Refusal[];
}

/**
 * Lines per batch (one transaction each). Two batches are held at once (one parsed while the
 * previous one is stored). 2,000 rather than 10,000: a batch's objects then die young (V8's
 * scavenger frees them instead of promoting them to the old space), which cut Node's CPU per
 * version by a third and kept the peak RSS under 200 MB; the ~10 statements a batch costs are
 * still a few µs per version (docs/performance/settings.md).
 */
const BATCH_SIZE = 2_000;

/** How many refused lines an import keeps with their reasons; the rest are only counted. */
export const MAX_KEPT_REFUSALS = 100;

/**
 * Imports an NDJSON file of settings versions. Each line is judged on its own: good lines are
 * stored (a batch per transaction, so a line is never half-written), bad lines (including lines
 * that are not valid UTF-8, hold a NUL byte or exceed `MAX_LINE_BYTES`) are counted and the first
 * `MAX_KEPT_REFUSALS` reported with their line number and reason. `now` is the time of receipt
 * (for marking back-dated days).
 *
 * Node parses and prepares batch N+1 (`prepareSettingsVersions`: dedupe, intervals, COPY text)
 * while PostgreSQL stores batch N (one batch in flight, so batches commit in file order, each
 * atomically); lines are parsed as they arrive, chunk by chunk, so batch N's statements go out
 * between chunks; licenses are resolved once per settings shape (`LicenseShapes`); on real
 * PostgreSQL a batch reaches the server by COPY.
 */
export async function importSettingsFile(
  db: Db,
  input: Readable,
  now: () => Date,
): Promise<SettingsFileImportResult> {
  const result: SettingsFileImportResult = { stored: 0, unchanged: 0, refusedTotal: 0, refused: [] };
  const tenantIds = new Set((await listTenants(db)).map((t) => t.id));
  const byCopy = await acceptsCopy(db);
  const shapes = new LicenseShapes();
  // The batch being filled: each line is parsed as it arrives, a stream chunk (~64 KiB) at a
  // time, so the batch in flight gets its statements sent between chunks, not after a whole
  // batch of parsing.
  let lines = 0;
  let good: GoodLine[] = [];
  let refused: Refusal[] = [];
  let inFlight: Promise<Refusal[]> | undefined;
  // Whether the last stored batch was all brand-new users (a first import): only then is the next
  // one planned ahead; a batch of known users goes through the staged path and would not use it.
  const pipeline = { allNew: true };

  const onLine = (line: SplitLine) => {
    lines += 1;
    const json = isBadLine(line) ? { ok: false as const, reason: line.reason } : parseJsonLine(line.text);
    const parsed = json.ok ? parseSettingsVersionLine(json.value, shapes) : json;
    if (!parsed.ok) {
      refused.push({ lineNo: line.lineNo, reason: parsed.reason });
    } else if (!tenantIds.has(parsed.version.tenantId)) {
      refused.push({ lineNo: line.lineNo, reason: `tenantId: unknown tenant "${parsed.version.tenantId}"` });
    } else {
      good.push({ lineNo: line.lineNo, version: parsed.version });
    }
  };
  const finishPrevious = async () => {
    if (inFlight) keepRefusals(result, await inFlight);
    inFlight = undefined;
  };
  const flush = async () => {
    const batch = good;
    const batchRefused = refused;
    lines = 0;
    good = [];
    refused = [];
    // Everything Node does for the batch (dedupe, intervals, COPY text) is done here, while the
    // previous batch may still be on the server: its transaction then runs statement after
    // statement with nothing for Node to compute in between.
    const prepared =
      batch.length === 0
        ? undefined
        : prepareSettingsVersions(
            batch.map((g) => g.version),
            { byCopy, planNewUsers: pipeline.allNew },
          );
    await finishPrevious();
    // Started now, awaited after the next batch is parsed (or at the end).
    inFlight = storeIsolating(db, batch, prepared, now(), result, batchRefused, byCopy, pipeline).then(
      () => batchRefused,
    );
    // An error is rethrown where it is awaited; until then it must not count as unhandled.
    inFlight.catch(() => {});
  };

  await eachChunkLines(
    input,
    () => {},
    onLine,
    async () => {
      if (lines >= BATCH_SIZE) await flush();
      return true;
    },
  );
  if (lines > 0) await flush();
  await finishPrevious();
  return result;
}

type GoodLine = { lineNo: number; version: SettingsVersion };

/**
 * Stores the good lines of a batch in one transaction. If the database refuses it for a reason
 * that is not transient (a value it cannot store), the batch is split in halves down to single
 * lines, and a line that still fails is refused with the database's message: one bad value costs
 * only its line. Transient errors (database away) are thrown: the import fails, a re-run is exact.
 */
async function storeIsolating(
  db: Db,
  good: GoodLine[],
  prepared: PreparedSettingsVersions | undefined,
  receivedAt: Date,
  result: SettingsFileImportResult,
  refused: Refusal[],
  byCopy: boolean,
  pipeline?: { allNew: boolean },
): Promise<void> {
  if (good.length === 0) return;
  let outcomes: StoreOutcome['outcomes'];
  let ofKnownUsers: number;
  try {
    ({ outcomes, ofKnownUsers } = await inTransaction(db, (trx) =>
      storePreparedSettingsVersions(
        trx,
        prepared ??
          prepareSettingsVersions(
            good.map((g) => g.version),
            { byCopy },
          ),
        receivedAt,
      ),
    ));
  } catch (error) {
    if (isTransientDatabaseError(error)) throw error;
    if (good.length === 1) {
      const message = String((error as Error)?.message ?? error).slice(0, 500);
      refused.push({ lineNo: (good[0] as GoodLine).lineNo, reason: `could not be stored: ${message}` });
      return;
    }
    const half = Math.ceil(good.length / 2);
    await storeIsolating(db, good.slice(0, half), undefined, receivedAt, result, refused, byCopy);
    await storeIsolating(db, good.slice(half), undefined, receivedAt, result, refused, byCopy);
    return;
  }
  if (pipeline) pipeline.allNew = ofKnownUsers === 0;
  outcomes.forEach((o, i) => {
    if (o.status === 'stored') result.stored += 1;
    else if (o.status === 'unchanged') result.unchanged += 1;
    else if (o.status === 'conflict')
      refused.push({ lineNo: (good[i] as GoodLine).lineNo, reason: o.reason });
  });
}

/** Counts a batch's refusals and keeps the first ones (batches come in line order). */
function keepRefusals(result: SettingsFileImportResult, refused: Refusal[]): void {
  result.refusedTotal += refused.length;
  const room = MAX_KEPT_REFUSALS - result.refused.length;
  if (room <= 0 || refused.length === 0) return;
  refused.sort((a, b) => a.lineNo - b.lineNo);
  result.refused.push(...refused.slice(0, room));
}
