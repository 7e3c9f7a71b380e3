import type { BatchResult, EventIngestor, IngestContext, IngestItem } from './event-ingest.service.ts';

export interface GroupCommitOptions {
  /** Most events one shared transaction takes (a request bigger than that still goes alone). */
  maxEvents?: number;
  /** Shared transactions open at once (each on its own connection); default 1. */
  maxInFlight?: number;
}

interface Waiting {
  items: readonly IngestItem[];
  resolve: (result: BatchResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit of concurrent batches (HTTP requests) through one ingestor: a batch submitted while
 * `maxInFlight` transactions are open waits, and when one of them ends, the waiting batches (up
 * to `maxEvents` events; a bigger one alone) are judged and stored in ONE transaction (`EventIngestor.ingestGroups`).
 * Each caller still gets its own exact answer (accepted, duplicates, its own rejects with its own
 * positions) and only after the transaction holding its events committed. An idle server adds no
 * wait: a batch that finds a free slot starts at once.
 *
 * If a shared transaction fails, nothing of it was committed, and each of its batches is retried
 * in a transaction of its own, so that a batch never fails for another one's sake (the database
 * away still fails each of them).
 *
 * Items carry their request (`IngestItem.origin`: the key's tenant): a shared transaction mixes
 * tenants, and each item is judged and owned as its request's.
 */
export class GroupCommit {
  readonly #ingestor: EventIngestor;
  readonly #ctx: IngestContext;
  readonly #maxEvents: number;
  readonly #maxInFlight: number;
  readonly #queue: Waiting[] = [];
  #inFlight = 0;

  constructor(ingestor: EventIngestor, ctx: IngestContext, options: GroupCommitOptions = {}) {
    this.#ingestor = ingestor;
    this.#ctx = ctx;
    this.#maxEvents = options.maxEvents ?? 10_000;
    this.#maxInFlight = Math.max(1, options.maxInFlight ?? 1);
  }

  /** Resolves with this batch's own answer once its events are committed. */
  submit(items: readonly IngestItem[]): Promise<BatchResult> {
    return new Promise<BatchResult>((resolve, reject) => {
      this.#queue.push({ items, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#queue.length > 0) {
      const group: Waiting[] = [this.#queue.shift() as Waiting];
      let events = group[0]?.items.length ?? 0;
      while (this.#queue.length > 0) {
        const next = this.#queue[0] as Waiting;
        if (events + next.items.length > this.#maxEvents) break;
        events += next.items.length;
        group.push(this.#queue.shift() as Waiting);
      }
      this.#inFlight += 1;
      void this.#commit(group).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
  }

  async #commit(group: Waiting[]): Promise<void> {
    let results: BatchResult[];
    try {
      results = await this.#ingestor.ingestGroups(
        group.map((w) => w.items),
        this.#ctx,
      );
    } catch (error) {
      if (group.length === 1) {
        group[0]?.reject(error);
        return;
      }
      // Nothing of the shared transaction committed: each batch on its own, with its own fate
      // (one after the other: the embedded database runs one transaction at a time).
      for (const w of group) await this.#ingestor.ingest(w.items, this.#ctx).then(w.resolve, w.reject);
      return;
    }
    for (const [i, w] of group.entries()) w.resolve(results[i] as BatchResult);
  }
}
