import type { Db } from '../db/database.ts';
import { isDataError } from '../db/database-errors.ts';
import { bumpDayRevisions, type TenantDay } from '../db/repositories/day-revision.repository.ts';
import { insertIngestCounts } from '../db/repositories/ingest-count.repository.ts';
import { insertIngestRejects, type NewIngestReject } from '../db/repositories/ingest-reject.repository.ts';
import {
  findLoginEvents,
  insertLoginEvents,
  type NewLoginEvent,
} from '../db/repositories/login-event.repository.ts';
import {
  insertLoginEventsByCopy,
  insertLoginEventsDirect,
} from '../db/repositories/login-event-copy.repository.ts';
import { streamsCopy } from '../db/repositories/server-kind.repository.ts';
import { listTenants } from '../db/repositories/tenant.repository.ts';
import { inTransaction, type Trx } from '../db/transaction.ts';
import { ingestBatchSeconds } from '../metrics.ts';
import { DirectCopyPolicy, type HeldBack } from './direct-copy-policy.ts';
import {
  ACCEPTED,
  type Batch,
  type BatchResult,
  conflictReason,
  DUPLICATE,
  FirstPositions,
  followFirsts,
  type IngestContext,
  type IngestItem,
  type Judged,
  keyOf,
  type Outcome,
  ownerOf,
  sameContent,
} from './event-batch.ts';
import { countOutcomes } from './ingest-metrics.ts';
import { tallyTenantDays } from './ingest-tally.ts';
import { TenantDayCache } from './tenant-day-cache.ts';

export type { BatchResult, IngestContext, IngestItem, ItemOrigin, RejectedItem } from './event-batch.ts';
export { hintOf } from './event-batch.ts';

/** How far ahead of the time of receipt an event may lie (`docs/file-formats.md`). */
export const MAX_FUTURE_MS = 5 * 60_000;

/**
 * Batches with at least this many new-looking events go to PostgreSQL by COPY into a staging
 * table; smaller ones (an HTTP request of 1,000) by `unnest` arrays, which needs one statement
 * less. See docs/performance/ingest.md.
 */
export const COPY_MIN_EVENTS = 5_000;

export interface IngestorOptions {
  /** Override of `COPY_MIN_EVENTS` (0 = always COPY on PostgreSQL; Infinity = never). */
  copyMinEvents?: number;
  /**
   * COPY big batches straight into login_events (`insertLoginEventsDirect`), falling back to the
   * staging table's judging statement when a key exists. Default false (always the staging
   * table). The file import turns it on: measured quietly at 1M events it raised the file
   * import's rate by 7-11%, while HTTP's group commits and the stream's batches lost 7-13% with
   * it (Node's extra work per event, the hold-back check across many batches in flight:
   * docs/performance/ingest.md).
   */
  directCopy?: boolean;
}

/**
 * The one ingest path of every source (HTTP, file, stream). A batch is judged and committed in
 * one transaction: new events stored once with their daily activity, repeats counted as
 * duplicates, everything else kept as a reject with its reason; the caller acknowledges only
 * after `ingest` resolves. A few statements per batch whatever its size.
 *
 * Invariant: accepted + duplicates + rejected.length === items.length.
 */
export class EventIngestor {
  readonly #db: Db;
  readonly #now: () => Date;
  readonly #days = new TenantDayCache();
  readonly #copyMinEvents: number;
  readonly #direct: DirectCopyPolicy;
  #zones: Map<string, string> | undefined;
  #copyCapable: Promise<boolean> | undefined;

  constructor(db: Db, now: () => Date = () => new Date(), options: IngestorOptions = {}) {
    this.#db = db;
    this.#now = now;
    this.#copyMinEvents = options.copyMinEvents ?? COPY_MIN_EVENTS;
    this.#direct = new DirectCopyPolicy(options.directCopy ?? false);
  }

  /** How many batches a direct COPY gave up on (a key stored or in flight elsewhere, a deadlock) so far. */
  get directCopyFallbacks(): number {
    return this.#direct.fallbacks;
  }

  /** Whether the server takes COPY FROM STDIN: real PostgreSQL does, the embedded PGlite does not. */
  #canCopy(): Promise<boolean> {
    this.#copyCapable ??= streamsCopy(this.#db);
    return this.#copyCapable;
  }

  /** Tenant zones, reloaded when an unknown tenant shows up (tenants are added while serving). */
  async #tenantZones(items: readonly IngestItem[]): Promise<Map<string, string>> {
    const known = this.#zones;
    if (known && items.every((it) => !it.parsed.ok || known.has(it.parsed.event.tenantId))) return known;
    const zones = new Map((await listTenants(this.#db)).map((t) => [t.id, t.timezone]));
    this.#zones = zones;
    return zones;
  }

  async ingest(items: readonly IngestItem[], ctx: IngestContext): Promise<BatchResult> {
    return (await this.#ingestJudged(items, ctx)).result;
  }

  /**
   * Several batches (concurrent HTTP requests: `GroupCommit`) judged and stored in ONE
   * transaction, as if they were one batch in this order, each answered on its own: its own
   * accepted and duplicate counts and its rejects with positions in its own batch. Rejected
   * as a whole when the transaction fails (nothing committed).
   */
  async ingestGroups(groups: readonly (readonly IngestItem[])[], ctx: IngestContext): Promise<BatchResult[]> {
    if (groups.length === 1) return [await this.ingest(groups[0] as readonly IngestItem[], ctx)];
    const { result, outcomes } = await this.#ingestJudged(groups.flat(), ctx);
    const answers: BatchResult[] = [];
    let offset = 0;
    let r = 0; // result.rejected is in position order
    for (const group of groups) {
      const end = offset + group.length;
      const answer: BatchResult = { accepted: 0, duplicates: 0, rejected: [] };
      for (let i = offset; i < end; i++) {
        const kind = (outcomes[i] as Outcome).kind;
        if (kind === 'accepted') answer.accepted += 1;
        else if (kind === 'duplicate') answer.duplicates += 1;
      }
      while (r < result.rejected.length && (result.rejected[r]?.index as number) < end) {
        const rej = result.rejected[r++] as BatchResult['rejected'][number];
        answer.rejected.push({ ...rej, index: rej.index - offset });
      }
      answers.push(answer);
      offset = end;
    }
    return answers;
  }

  async #ingestJudged(items: readonly IngestItem[], ctx: IngestContext): Promise<Judged> {
    const started = process.hrtime.bigint();
    const receivedAt = this.#now();
    const zones = await this.#tenantZones(items);
    const judged = await this.#isolating(items, ctx, receivedAt, zones);
    countOutcomes(items, judged.outcomes, ctx, zones);
    ingestBatchSeconds.observe({ source: ctx.source }, Number(process.hrtime.bigint() - started) / 1e9);
    return judged;
  }

  /**
   * Defence in depth: the validators should leave nothing the database refuses, but if it still
   * refuses a batch for a data reason (`isDataError`), the batch is split in halves and each is
   * ingested on its own, down to the single event, which is then kept as a reject naming the
   * database's reason. The good events are stored; one bad value never costs the batch.
   */
  async #isolating(
    items: readonly IngestItem[],
    ctx: IngestContext,
    receivedAt: Date,
    zones: Map<string, string>,
  ): Promise<Judged> {
    try {
      return await this.#ingestOnce(items, ctx, receivedAt, zones);
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (items.length === 1) {
        const e = error as Error & { code: string };
        const refused = `the database refused this event: ${e.message} (SQLSTATE ${e.code})`;
        return this.#ingestOnce(items, ctx, receivedAt, zones, refused);
      }
      const mid = items.length >> 1;
      const a = await this.#isolating(items.slice(0, mid), ctx, receivedAt, zones);
      const b = await this.#isolating(items.slice(mid), ctx, receivedAt, zones);
      return {
        result: {
          accepted: a.result.accepted + b.result.accepted,
          duplicates: a.result.duplicates + b.result.duplicates,
          rejected: [...a.result.rejected, ...b.result.rejected.map((r) => ({ ...r, index: r.index + mid }))],
        },
        outcomes: [...a.outcomes, ...b.outcomes],
      };
    }
  }

  /**
   * One batch, one transaction, in named steps: judge each item in memory (`#judge`), store the
   * candidates by the write path that suits the batch (`#store`), classify what the database did
   * not insert (`#classifyNotInserted`), let later repeats follow their first occurrence
   * (`#followFirsts`), then keep the rejects, mark the days and count (`#settle`).
   * `refused`: every item is a reject with this reason.
   */
  async #ingestOnce(
    items: readonly IngestItem[],
    ctx: IngestContext,
    receivedAt: Date,
    zones: Map<string, string>,
    refused?: string,
  ): Promise<Judged> {
    const judged = this.#judge(items, ctx, receivedAt, zones, refused);
    const byCopy = await this.#byCopy(judged.candidates.length);
    // Decided and registered synchronously, so two batches in flight see each other in order.
    const heldBack = byCopy ? this.#direct.heldBack(judged) : undefined;
    const result = await this.#direct.storing(judged, heldBack !== undefined, () =>
      inTransaction(this.#db, async (trx) => {
        const { notInserted, touched } = await this.#store(trx, judged, ctx, receivedAt, byCopy, heldBack);
        await this.#classifyNotInserted(trx, judged, notInserted);
        followFirsts(items, judged);
        return this.#settle(trx, items, judged, ctx, receivedAt, zones, touched);
      }),
    );
    return { result, outcomes: judged.outcomes as Outcome[] };
  }

  /** The candidates stored by the write path chosen: `unnest`, direct COPY, or the staging table. */
  async #store(
    trx: Trx,
    batch: Batch,
    ctx: IngestContext,
    receivedAt: Date,
    byCopy: boolean,
    heldBack: HeldBack | undefined,
  ) {
    if (!byCopy) return insertLoginEvents(trx, batch.candidates, ctx.source, receivedAt);
    if (heldBack) {
      const stored = await insertLoginEventsDirect(trx, batch.candidates, ctx.source, receivedAt, {
        held: heldBack.held,
        copied: () => this.#direct.copied(batch),
        beforeHeld: () => heldBack.othersCopied,
      });
      if (stored) {
        this.#direct.completed();
        return stored;
      }
      this.#direct.gaveUp();
    }
    return insertLoginEventsByCopy(trx, batch.candidates, ctx.source, receivedAt);
  }

  /**
   * Validation and batch dedup, in memory: a reject for a bad parse, a tenant the caller may not
   * write, an unknown tenant, an instant too far ahead or without a tenant-local day; the first
   * occurrence of each (tenant, eventId) becomes a candidate with its day; later occurrences are
   * left undecided (`#followFirsts` judges them after the first one's fate is known).
   */
  #judge(
    items: readonly IngestItem[],
    ctx: IngestContext,
    receivedAt: Date,
    zones: Map<string, string>,
    refused: string | undefined,
  ): Batch {
    const n = items.length;
    const batch: Batch = {
      outcomes: new Array<Outcome | undefined>(n),
      firstByKey: new FirstPositions(),
      candidates: [],
      candidateIndex: [],
    };
    const { outcomes, firstByKey, candidates, candidateIndex } = batch;
    const horizon = receivedAt.getTime() + MAX_FUTURE_MS;
    for (let i = 0; i < n; i++) {
      const item = items[i] as IngestItem;
      const parsed = item.parsed;
      if (refused !== undefined) {
        outcomes[i] = { kind: 'rejected', reason: refused };
        continue;
      }
      if (!parsed.ok) {
        outcomes[i] = { kind: 'rejected', reason: parsed.reason };
        continue;
      }
      const e = parsed.event;
      const zone = zones.get(e.tenantId);
      const allowed = item.origin?.allowedTenant ?? ctx.allowedTenant;
      if (allowed !== undefined && e.tenantId !== allowed) {
        outcomes[i] = {
          kind: 'rejected',
          reason: `tenantId: "${e.tenantId}" may not be written with a key of tenant "${allowed}"`,
        };
      } else if (zone === undefined) {
        outcomes[i] = { kind: 'rejected', reason: `tenantId: unknown tenant "${e.tenantId}"` };
      } else if (e.occurredAtMs > horizon) {
        outcomes[i] = {
          kind: 'rejected',
          reason: `occurredAt: ${new Date(e.occurredAtMs).toISOString()} is more than 5 minutes after the time of receipt ${receivedAt.toISOString()}`,
        };
      } else if (firstByKey.get(e.tenantId, e.eventId) === undefined) {
        let day: string;
        try {
          day = this.#days.dayOf(e.occurredAtMs, zone);
        } catch (error) {
          // The validator bounds occurredAt; an instant the calendar still cannot place is one reject.
          outcomes[i] = {
            kind: 'rejected',
            reason: `occurredAt: no tenant-local day: ${(error as Error).message}`,
          };
          continue;
        }
        firstByKey.set(e.tenantId, e.eventId, i);
        // The event becomes its own candidate row (no object per event): its day set here.
        e.day = day;
        candidates.push(e as NewLoginEvent);
        candidateIndex.push(i);
      }
      // else: a later occurrence, judged after the first one (the first one wins).
    }
    return batch;
  }

  /** Write path choice: COPY into the staging table for big batches on real PostgreSQL, else `unnest`. */
  async #byCopy(candidates: number): Promise<boolean> {
    return candidates >= this.#copyMinEvents && (await this.#canCopy());
  }

  /**
   * Classification of the candidates the database did not insert (their key was stored already,
   * maybe by a concurrent delivery): the same userId and instant is a duplicate, other content a
   * reject. Every other candidate was accepted.
   */
  async #classifyNotInserted(trx: Db, batch: Batch, notInserted: readonly number[]): Promise<void> {
    const { outcomes, candidates, candidateIndex } = batch;
    for (const i of candidateIndex) outcomes[i] = ACCEPTED;
    if (notInserted.length === 0) return;
    const missing = notInserted.map((k) => candidates[k] as NewLoginEvent);
    const stored = new Map(
      (await findLoginEvents(trx, missing)).map((s) => [keyOf(s.tenantId, s.eventId), s] as const),
    );
    for (const k of notInserted) {
      const e = candidates[k] as NewLoginEvent;
      const s = stored.get(keyOf(e.tenantId, e.eventId));
      outcomes[candidateIndex[k] as number] =
        s === undefined || sameContent(s, e)
          ? DUPLICATE
          : { kind: 'rejected', reason: conflictReason(e, s, 'is already stored') };
    }
  }

  /**
   * The batch's answer and what commits with it: rejects kept with their reasons, the touched
   * days marked (late data re-bills its day), the per tenant-day counts recorded.
   */
  async #settle(
    trx: Db,
    items: readonly IngestItem[],
    batch: Batch,
    ctx: IngestContext,
    receivedAt: Date,
    zones: Map<string, string>,
    touched: TenantDay[],
  ): Promise<BatchResult> {
    const outcomes = batch.outcomes as Outcome[];
    const rejects: NewIngestReject[] = [];
    const summary: BatchResult = { accepted: 0, duplicates: 0, rejected: [] };
    for (let i = 0; i < items.length; i++) {
      const o = outcomes[i] as Outcome;
      if (o.kind === 'accepted') summary.accepted += 1;
      else if (o.kind === 'duplicate') summary.duplicates += 1;
      else {
        const item = items[i] as IngestItem;
        const e = item.parsed.ok ? item.parsed.event : undefined;
        const tenantId = ownerOf(item, ctx, zones);
        const eventId = e?.eventId ?? item.hint?.eventId ?? null;
        rejects.push({
          source: ctx.source,
          tenantId,
          eventId,
          location: item.location,
          raw: item.raw,
          reason: o.reason,
        });
        summary.rejected.push({ index: i, eventId, reason: o.reason });
      }
    }
    await insertIngestRejects(trx, rejects, receivedAt);
    await bumpDayRevisions(trx, touched);
    await insertIngestCounts(
      trx,
      ctx.source,
      receivedAt,
      tallyTenantDays(
        items,
        (i) => (outcomes[i] as Outcome).kind,
        (e) => e.day ?? this.#days.dayOf(e.occurredAtMs, zones.get(e.tenantId) as string),
      ),
    );
    return summary;
  }
}
