import { Redis } from 'ioredis';
import type { Db } from '../db/database.ts';
import { isTransientDatabaseError } from '../db/database-errors.ts';
import type { Logger } from '../logger.ts';
import { type BatchResult, EventIngestor } from './event-ingest.service.ts';
import { InFlightWindow } from './in-flight-window.ts';
import { entriesOf, entryId, messageItems, refusedItems, type StreamEntry } from './stream-message.ts';

export { messageItems } from './stream-message.ts';

export interface StreamConsumerOptions {
  db: Db;
  redisUrl: string;
  stream: string;
  group: string;
  /** This consumer's name in the group; stable across restarts so that its own pending messages are retried. */
  consumer: string;
  logger: Logger;
  now?: () => Date;
  /** How long one XREADGROUP waits for new messages (ms); also bounds how long `close()` waits. */
  blockMs?: number;
  /** A message pending this long (ms) on any consumer is taken over (its consumer is presumed dead). */
  claimIdleMs?: number;
  /** Messages per read (one read = one batch = one transaction). */
  count?: number;
  /**
   * Batches of new messages committing at once (default 2, each on its own connection): the next
   * batch is read, parsed and judged while the one before it commits.
   */
  inFlight?: number;
  /** First wait after a failed batch (ms); doubled per failure in a row up to `maxRetryMs`. */
  retryMs?: number;
  maxRetryMs?: number;
}

export interface StreamConsumer {
  /** Finishes the batches in flight (commit + ack), then stops reading; waits at most one `blockMs` read. */
  close(): Promise<void>;
}

/**
 * Reads login events from a Redis stream with a consumer group and ingests them through the one
 * ingest path. A read is one batch (up to `inFlight` of them committing at once): its messages
 * are acknowledged (XACK) only after the batch committed, so a crash at any point leaves them
 * pending; they are then retried by this consumer on restart or claimed (XAUTOCLAIM) by a live
 * one once idle for `claimIdleMs`. Redelivery is harmless: the ingest path counts a repeat as a
 * duplicate.
 *
 * A poison message never jams the stream: when a batch fails for a reason that is not transient,
 * its messages are retried one at a time (the ingestor isolates the events the database refuses
 * as rejects; a message that still fails is kept whole as rejects, `refusedItems`) and acked, and
 * every other event is stored. A transient failure (database or Redis away) acks nothing and is
 * retried with backoff. The group is created at the start of the stream if missing (events
 * published before the first consumer started are not skipped).
 */
export async function startStreamConsumer(opts: StreamConsumerOptions): Promise<StreamConsumer> {
  const consumer = new GroupConsumer(opts);
  await consumer.connect();
  consumer.start();
  return { close: () => consumer.close() };
}

class GroupConsumer {
  readonly #opts: StreamConsumerOptions;
  readonly #log: Logger;
  readonly #redis: Redis;
  readonly #ingestor: EventIngestor;
  readonly #blockMs: number;
  readonly #claimIdleMs: number;
  readonly #count: number;
  #closing = false;
  /** First our own pending messages (left by a previous run or a failed batch), then new ones. */
  #ownPending = true;
  #nextClaim = 0;
  #retryMs: number;
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  readonly #maxInFlight: number;
  /**
   * Batches of new messages being committed (and then acked). At capacity the OLDEST is waited
   * for (`InFlightWindow`): the batches in flight are consecutive reads, so a reused eventId in a
   * message `inFlight` or more batches after its first occurrence always comes second.
   */
  readonly #inFlight = new InFlightWindow();
  /** The first failure of a batch in flight, thrown by the round that notices it. */
  #failed: { error: unknown } | undefined;

  constructor(opts: StreamConsumerOptions) {
    this.#opts = opts;
    this.#blockMs = opts.blockMs ?? 1000;
    this.#claimIdleMs = opts.claimIdleMs ?? 60_000;
    this.#count = opts.count ?? 1000;
    this.#maxInFlight = Math.max(1, opts.inFlight ?? 2);
    this.#retryMs = opts.retryMs ?? 500;
    this.#log = opts.logger.child({ stream: opts.stream, group: opts.group, consumer: opts.consumer });
    this.#redis = new Redis(opts.redisUrl, {
      maxRetriesPerRequest: null,
      lazyConnect: true,
      // RESP2: stream replies in their documented array shapes (RESP3 turns XREADGROUP into a map).
      protocol: 2,
    });
    this.#redis.on('error', (error) => this.#log.warn({ err: error }, 'redis connection error'));
    this.#ingestor = new EventIngestor(opts.db, opts.now);
  }

  async connect(): Promise<void> {
    await this.#redis.connect();
    await this.#ensureGroup();
  }

  start(): void {
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#wake?.();
    await this.#loop;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      try {
        await this.#step();
        this.#retryMs = this.#opts.retryMs ?? 500;
      } catch (error) {
        // Whatever else is in flight finishes first (commits and acks, or fails and stays
        // pending): our pending list is re-read from id 0 only when nothing is in flight.
        await this.#settled();
        this.#failed = undefined; // recovered by the same re-read
        if (this.#closing) break;
        await this.#recover(error);
      }
    }
    // Batches read are ours (pending on this consumer): committed before closing, so that they
    // do not wait for a restart or a claim. A failure leaves them pending, as any batch.
    await this.#settled();
  }

  /**
   * One round: claim idle messages when due (nothing in flight), then read one batch. Our own
   * pending messages (id 0) are processed one batch at a time with nothing in flight (a read
   * from id 0 returns the messages in flight too). New messages (`>`) are processed in flight:
   * up to `inFlight` batches commit at once while the next one is read, parsed and judged; the
   * read does not BLOCK while a batch is in flight, so that its XACK, queued on the same
   * connection, never waits for new messages.
   */
  async #step(): Promise<void> {
    this.#throwFailure();
    if (Date.now() >= this.#nextClaim) {
      await this.#settledOrThrow();
      await this.#claimIdle();
      this.#nextClaim = Date.now() + Math.max(100, Math.floor(this.#claimIdleMs / 2));
    }
    if (this.#ownPending) {
      await this.#settledOrThrow();
      const entries = await this.#read();
      if (entries.length === 0) this.#ownPending = false;
      else await this.#process(entries);
      return;
    }
    const busy = this.#inFlight.size > 0;
    const entries = await this.#read(!busy);
    if (entries.length === 0) {
      if (busy) await this.#oldestSettledOrThrow();
      return;
    }
    this.#launch(entries);
    await this.#inFlight.below(this.#maxInFlight);
    this.#throwFailure();
  }

  /** Commits (then acks) a batch in flight; a failure is kept for the next round to throw. */
  #launch(entries: StreamEntry[]): void {
    this.#inFlight.add(
      this.#process(entries).catch((error: unknown) => {
        this.#failed ??= { error };
      }),
    );
  }

  #throwFailure(): void {
    const failed = this.#failed;
    if (failed) {
      this.#failed = undefined;
      throw failed.error;
    }
  }

  async #settled(): Promise<void> {
    await this.#inFlight.settled();
  }

  async #settledOrThrow(): Promise<void> {
    await this.#settled();
    this.#throwFailure();
  }

  async #oldestSettledOrThrow(): Promise<void> {
    await this.#inFlight.oldestSettled();
    this.#throwFailure();
  }

  async #ensureGroup(): Promise<void> {
    try {
      await this.#redis.call('XGROUP', 'CREATE', this.#opts.stream, this.#opts.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  }

  /**
   * Our own pending entries (id 0, no BLOCK: they are there or not), else new ones (waiting up
   * to `blockMs` unless `block` is false); as bytes.
   */
  async #read(block = true): Promise<StreamEntry[]> {
    const reply = await this.#redis.callBuffer(
      'XREADGROUP',
      'GROUP',
      this.#opts.group,
      this.#opts.consumer,
      'COUNT',
      this.#count,
      ...(this.#ownPending || !block ? [] : ['BLOCK', this.#blockMs]),
      'STREAMS',
      this.#opts.stream,
      this.#ownPending ? '0' : '>',
    );
    return entriesOf(reply);
  }

  /** Takes over messages idle on any consumer (a dead one) and processes them like our own. */
  async #claimIdle(): Promise<void> {
    let cursor = '0-0';
    for (let round = 0; round < 10; round++) {
      const reply = (await this.#redis.callBuffer(
        'XAUTOCLAIM',
        this.#opts.stream,
        this.#opts.group,
        this.#opts.consumer,
        this.#claimIdleMs,
        cursor,
        'COUNT',
        this.#count,
      )) as [Buffer, StreamEntry[]];
      const entries = (reply[1] ?? []).filter((e) => e[1] !== null);
      if (entries.length > 0)
        this.#log.info({ messages: entries.length }, 'claimed messages of an idle consumer');
      await this.#process(entries);
      cursor = reply[0].toString();
      if (cursor === '0-0') return;
    }
  }

  /** The batch in one transaction; if it fails for a data reason, one message at a time. */
  async #process(entries: StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const items = entries.flatMap(messageItems);
    let result: BatchResult;
    try {
      result = await this.#ingestor.ingest(items, { source: 'stream' });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw error;
      this.#log.warn(
        { err: error, messages: entries.length },
        'stream batch refused: retrying one message at a time',
      );
      for (const entry of entries) await this.#processOne(entry);
      return;
    }
    await this.#ack(entries);
    this.#logBatch(entries.length, result);
  }

  /** One message on its own: an event the database refuses is kept as a reject, then the message is acked. */
  async #processOne(entry: StreamEntry): Promise<void> {
    const items = messageItems(entry);
    let result: BatchResult;
    try {
      result = await this.#ingestor.ingest(items, { source: 'stream' });
    } catch (error) {
      if (isTransientDatabaseError(error)) throw error;
      result = await this.#ingestor.ingest(refusedItems(items, error), { source: 'stream' });
    }
    await this.#ack([entry]);
    if (result.rejected.length > 0) {
      this.#log.warn(
        { messageId: entryId(entry), reasons: result.rejected.map((r) => r.reason).slice(0, 5) },
        'stream message kept as rejects',
      );
    }
    this.#logBatch(1, result);
  }

  async #ack(entries: StreamEntry[]): Promise<void> {
    await this.#redis.call('XACK', this.#opts.stream, this.#opts.group, ...entries.map(entryId));
  }

  #logBatch(messages: number, result: BatchResult): void {
    this.#log.debug(
      {
        messages,
        accepted: result.accepted,
        duplicates: result.duplicates,
        rejected: result.rejected.length,
      },
      'stream batch committed',
    );
  }

  /** After a failed round: nothing was acked; recreate a lost group, or wait (backoff) and retry. */
  async #recover(error: unknown): Promise<void> {
    // The failed batch is pending on this consumer: read again from id 0.
    this.#ownPending = true;
    if (String((error as Error).message).includes('NOGROUP')) {
      // Redis lost its data (restarted without persistence, a new instance): the group is
      // recreated at the start of whatever the stream now holds.
      this.#log.warn('stream consumer group missing: recreating it');
      try {
        await this.#ensureGroup();
        return;
      } catch (e) {
        this.#log.error({ err: e }, 'consumer group not recreated; retrying');
      }
    }
    // The database or Redis is away: the messages stay pending and are read again.
    this.#log.error({ err: error, retryInMs: this.#retryMs }, 'stream batch failed; retrying');
    await this.#sleep(this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, this.#opts.maxRetryMs ?? 10_000);
  }

  /** Waits, but wakes at once on `close()`. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
    });
  }
}
