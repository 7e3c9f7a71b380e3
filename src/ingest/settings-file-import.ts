import type { Readable } from 'node:stream';
import type { Db } from '../db/database.ts';
import { isTransientDatabaseError } from '../db/database-errors.ts';
import { insertIngestRejects, type NewIngestReject } from '../db/repositories/ingest-reject.repository.ts';
import { streamsCopy } from '../db/repositories/server-kind.repository.ts';
import { userKey } from '../db/repositories/settings-new-users-plan.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import type { SettingsVersion } from '../domain/settings-version.ts';
import { HeldTexts } from './held-texts.ts';
import { eachChunkLines, isBadLine, parseJsonLine, type SplitLine } from './line-source.ts';
import {
  LicenseShapes,
  type PreparedSettingsVersions,
  parseSettingsVersionLine,
  prepareSettingsVersions,
  type StoreOutcome,
  storePreparedBatchAlone,
} from './settings-import.service.ts';

export interface Refusal {
  lineNo: number;
  reason: string;
}

/** A refused line as held until it is kept in `ingest_rejects`: its payload and claimed tenant too. */
interface HeldRefusal extends Refusal {
  raw: string | Uint8Array;
  /** The line's tenantId when it names an existing tenant, else null. */
  tenantId: string | null;
}

export interface SettingsFileImportOptions {
  /** The file as named in the kept rejects' locations (`NAME:LINE`); default `settings`. */
  name?: string;
  /** Lines per batch (one transaction each); default `BATCH_SIZE` (measurements only). */
  batchSize?: number;
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
 * Lines per batch (one transaction each). Up to three batches are held at once (one parsed while
 * `IN_FLIGHT` are stored). 2,000 rather than 10,000: a batch's objects then die young (V8's
 * scavenger frees them instead of promoting them to the old space), which cut Node's CPU per
 * version by a third and kept the peak RSS under 200 MB; the ~10 statements a batch costs are
 * still a few µs per version (docs/performance/settings.md).
 */
const BATCH_SIZE = 2_000;

/**
 * Bytes parsed between two turns of the event loop. The batch on the server runs ~7 statements,
 * each sent only when Node gets back to its event loop: with whole 64 KiB chunks (~2 ms of
 * parsing) every round trip waited ~3 ms. 4 KiB slices (~16 lines) made the import ~28% faster;
 * 1-2 KiB no faster (docs/performance/settings.md, "Parsing in slices").
 */
const SLICE_BYTES = 4 * 1024;

/**
 * Batches on the server at once (real PostgreSQL, a connection each). A batch's transaction holds
 * its tenants' locks from its first statement to COMMIT, so batches of one tenant still store one
 * after the other; the second one's message waits on the server for the locks, and starts the
 * moment the first commits instead of after Node has heard of the commit and sent it
 * (docs/performance/settings.md, fourteenth pass).
 */
const IN_FLIGHT = 2;

/** How many refused lines an import keeps with their reasons; the rest are only counted. */
export const MAX_KEPT_REFUSALS = 100;

/**
 * Imports an NDJSON file of settings versions. Each line is judged on its own: good lines are
 * stored (a batch per transaction, so a line is never half-written), bad lines (including lines
 * that are not valid UTF-8, hold a NUL byte or exceed `MAX_LINE_BYTES`) are counted, the first
 * `MAX_KEPT_REFUSALS` reported with their line number and reason, and EVERY one kept in
 * `ingest_rejects` (source `settings-file`, location `NAME:LINE`, the line as read, the reason;
 * after its batch is stored, one statement per batch that has refusals; an open reject already
 * kept with the same tenant, payload and reason is not kept twice, so a re-run adds nothing).
 * `now` is the time of receipt (for marking back-dated days).
 *
 * Node parses and prepares batch N+2 (`prepareSettingsVersions`: dedupe, intervals, COPY text)
 * while PostgreSQL stores batch N and holds N+1 (`IN_FLIGHT`; batches of one tenant commit one
 * after the other, each atomically, and a batch sharing a user with the one before it waits for
 * it, so the file's order decides between a user's versions; refusals are reported and kept in
 * file order); lines are parsed as they arrive, chunk by chunk, so batch N's statements go out
 * between chunks; licenses are resolved once per settings shape (`LicenseShapes`); on real
 * PostgreSQL a batch reaches the server by COPY.
 */
export async function importSettingsFile(
  db: Db,
  input: Readable,
  now: () => Date,
  options: SettingsFileImportOptions = {},
): Promise<SettingsFileImportResult> {
  const name = options.name ?? 'settings';
  const batchSize = options.batchSize ?? BATCH_SIZE;
  const result: SettingsFileImportResult = { stored: 0, unchanged: 0, refusedTotal: 0, refused: [] };
  const tenants = await listTenants(db);
  const tenantIds = new Set(tenants.map((t) => t.id));
  // The zones batches of new users are planned in (their day marks); each batch's check on the
  // server refuses the plan if a zone changed meanwhile, and the batch is planned again.
  const plannedZones = new Map(tenants.map((t) => [t.id, t.timezone]));
  const byCopy = await streamsCopy(db);
  const shapes = new LicenseShapes();
  // The batch being filled: each line is parsed as it arrives, a stream chunk (~64 KiB) at a
  // time, so the batch in flight gets its statements sent between chunks, not after a whole
  // batch of parsing.
  let lines = 0;
  let good: GoodLine[] = [];
  let texts = new HeldTexts();
  let refused: HeldRefusal[] = [];
  // Batches on the server, oldest first: at most `IN_FLIGHT` (one without COPY: the embedded
  // database runs one transaction at a time).
  const inFlight: { users: ReadonlySet<string>; done: Promise<HeldRefusal[]> }[] = [];
  const depth = byCopy ? IN_FLIGHT : 1;
  // Whether the last stored batch was all brand-new users (a first import): only then is the next
  // one planned ahead; a batch of known users goes through the staged path and would not use it.
  const pipeline = { allNew: true };

  const onLine = (line: SplitLine) => {
    lines += 1;
    const json = isBadLine(line) ? { ok: false as const, reason: line.reason } : parseJsonLine(line.text);
    const parsed = json.ok ? parseSettingsVersionLine(json.value, shapes) : json;
    const raw = isBadLine(line) ? line.raw : line.text;
    if (!parsed.ok) {
      refused.push({
        lineNo: line.lineNo,
        reason: parsed.reason,
        raw,
        tenantId: claimedTenant(json, tenantIds),
      });
    } else if (!tenantIds.has(parsed.version.tenantId)) {
      const reason = `tenantId: unknown tenant "${parsed.version.tenantId}"`;
      refused.push({ lineNo: line.lineNo, reason, raw, tenantId: null });
    } else {
      good.push({ lineNo: line.lineNo, version: parsed.version, texts, at: texts.add(raw as string) });
    }
  };
  const finishOldest = async () => {
    const oldest = inFlight.shift();
    if (oldest) keepRefusals(result, await oldest.done);
  };
  const finishAll = async () => {
    while (inFlight.length > 0) await finishOldest();
  };
  const flush = async () => {
    const batch = good;
    const batchRefused = refused;
    lines = 0;
    good = [];
    texts = new HeldTexts();
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
    // Its users, to compare with the next batch's (nothing to compare with one batch in flight).
    const users = depth > 1 ? new Set(batch.map((g) => userKey(g.version))) : NO_USERS;
    while (inFlight.length >= depth) await finishOldest();
    // A batch sharing a user with the one still in flight waits for it: the file's order decides
    // between two versions of a user (the tenants' locks alone would let either commit first).
    if (sharesAny(users, inFlight.at(-1)?.users)) await finishAll();
    const before = inFlight.at(-1)?.done;
    // Started now, awaited after the next batches are parsed (or at the end).
    const receivedAt = now();
    const done = storeIsolating(
      db,
      batch,
      prepared,
      receivedAt,
      result,
      batchRefused,
      byCopy,
      pipeline,
      plannedZones,
    ).then(async () => {
      // Rejects are kept in file order: after the batch before this one kept its own.
      await before?.catch(() => {});
      await keepRejects(db, name, batchRefused, receivedAt);
      return batchRefused;
    });
    // An error is rethrown where it is awaited; until then it must not count as unhandled.
    done.catch(() => {});
    inFlight.push({ users, done });
  };

  try {
    await eachChunkLines(
      input,
      () => {},
      onLine,
      async () => {
        if (lines >= batchSize) await flush();
        return true;
      },
      undefined,
      SLICE_BYTES,
    );
    if (lines > 0) await flush();
    await finishAll();
  } catch (error) {
    // The import fails only once no batch of it is on the server any more: what it leaves
    // stored is settled when the caller hears of the failure (and closes the connections).
    await Promise.allSettled(inFlight.map((b) => b.done));
    throw error;
  }
  return result;
}

/**
 * A line that parsed, with where its text is held (`texts.text(at)`: the reject's payload if the
 * database refuses it).
 */
type GoodLine = { lineNo: number; version: SettingsVersion; texts: HeldTexts; at: number };

/** The tenantId a refused line names, when it is an existing tenant (else null: kept unattributed). */
function claimedTenant(
  json: { ok: true; value: unknown } | { ok: false },
  tenantIds: ReadonlySet<string>,
): string | null {
  if (!json.ok || typeof json.value !== 'object' || json.value === null) return null;
  const t = (json.value as { tenantId?: unknown }).tenantId;
  return typeof t === 'string' && tenantIds.has(t) ? t : null;
}

/** Keeps a batch's refused lines in `ingest_rejects` (nothing to do for a batch without any). */
async function keepRejects(
  db: Db,
  name: string,
  refused: readonly HeldRefusal[],
  receivedAt: Date,
): Promise<void> {
  if (refused.length === 0) return;
  const rejects: NewIngestReject[] = refused.map((r) => ({
    source: 'settings-file',
    tenantId: r.tenantId,
    eventId: null,
    location: `${name}:${r.lineNo}`,
    raw: r.raw,
    reason: r.reason,
  }));
  await insertIngestRejects(db, rejects, receivedAt);
}

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
  refused: HeldRefusal[],
  byCopy: boolean,
  pipeline?: { allNew: boolean },
  plannedZones?: ReadonlyMap<string, string>,
): Promise<void> {
  if (good.length === 0) return;
  let outcomes: StoreOutcome['outcomes'];
  let ofKnownUsers: number;
  try {
    ({ outcomes, ofKnownUsers } = await storePreparedBatchAlone(
      db,
      prepared ??
        prepareSettingsVersions(
          good.map((g) => g.version),
          { byCopy },
        ),
      receivedAt,
      plannedZones,
    ));
  } catch (error) {
    if (isTransientDatabaseError(error)) throw error;
    if (good.length === 1) {
      const message = String((error as Error)?.message ?? error).slice(0, 500);
      const g = good[0] as GoodLine;
      refused.push({ ...heldOf(g), reason: `could not be stored: ${message}` });
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
    else if (o.status === 'conflict') refused.push({ ...heldOf(good[i] as GoodLine), reason: o.reason });
  });
}

/** A stored line refused by the database: its payload, and its tenant (known: it was stored against it). */
const heldOf = (g: GoodLine) => ({ lineNo: g.lineNo, raw: g.texts.text(g.at), tenantId: g.version.tenantId });

/** Counts a batch's refusals and reports the first ones (batches come in line order). */
function keepRefusals(result: SettingsFileImportResult, refused: HeldRefusal[]): void {
  result.refusedTotal += refused.length;
  const room = MAX_KEPT_REFUSALS - result.refused.length;
  if (room <= 0 || refused.length === 0) return;
  refused.sort((a, b) => a.lineNo - b.lineNo);
  for (const r of refused.slice(0, room)) result.refused.push({ lineNo: r.lineNo, reason: r.reason });
}

const NO_USERS: ReadonlySet<string> = new Set();

/** Whether two sets of users share one (false without a second set). */
function sharesAny(users: ReadonlySet<string>, others: ReadonlySet<string> | undefined): boolean {
  if (others === undefined) return false;
  for (const u of users) if (others.has(u)) return true;
  return false;
}
