import type { NewLoginEvent } from '../db/repositories/login-event.repository.ts';
import type { Batch, FirstPositions } from './event-batch.ts';

/** Most batches a direct COPY that gave up makes the next ones skip (doubling from 1). */
const MAX_DIRECT_PAUSE = 64;

/** What a batch's direct COPY holds back, and when it may insert those rows. */
export interface HeldBack {
  /** `held[k]`: candidate k's key is in a batch stored on another connection. */
  held: boolean[];
  /**
   * Settles once the direct COPY of every batch that holds one of those keys has ended: only
   * then are the held rows inserted (`ON CONFLICT`, waiting for that batch's commit). Inserted
   * sooner, they could reach the table before the other batch's COPY, which would then fail on
   * them and give up.
   */
  othersCopied: Promise<void>;
}

/** A batch being stored: settled when its direct COPY has ended (or at once without one). */
interface Storing {
  copied: Promise<void>;
  markCopied: () => void;
}

/**
 * When an ingestor's COPY batch goes straight into login_events (`insertLoginEventsDirect`) and
 * what it holds back from that COPY (docs/ingest.md, "Direct COPY"). One per ingestor: it knows
 * the batches the ingestor is storing on its connections, and pauses after a COPY gave up.
 */
export class DirectCopyPolicy {
  readonly #enabled: boolean;
  /** The batches being stored now (any connection of this ingestor), by their first positions. */
  readonly #storing = new Map<FirstPositions, Storing>();
  /** Batches still to store by the staging table after a direct COPY gave up, and the next pause. */
  #pause = 0;
  #nextPause = 1;
  #fallbacks = 0;

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /** How many batches a direct COPY gave up on (a key stored or in flight elsewhere, a deadlock) so far. */
  get fallbacks(): number {
    return this.#fallbacks;
  }

  /**
   * Whether a COPY batch goes straight into login_events, and which of its candidates are held
   * back from that COPY (their key is in a batch this ingestor is storing on another connection:
   * a resend across two batches in flight; the COPY would wait for it and then fail). `undefined`
   * = the staging table's statement: direct COPY off, or paused after it gave up (a key already
   * stored: a re-import or retried batches, whose next batches likely hold stored keys too).
   * Call it synchronously before `storing`, so two batches in flight see each other in order.
   */
  heldBack(batch: Batch): HeldBack | undefined {
    if (!this.#enabled) return undefined;
    if (this.#pause > 0) {
      this.#pause -= 1;
      return undefined;
    }
    const held: boolean[] = [];
    if (this.#storing.size === 0) return { held, othersCopied: Promise.resolve() };
    const owners = new Set<Storing>();
    const { candidates } = batch;
    for (let k = 0; k < candidates.length; k++) {
      const e = candidates[k] as NewLoginEvent;
      for (const [other, storing] of this.#storing) {
        if (other.get(e.tenantId, e.eventId) !== undefined) {
          held[k] = true;
          owners.add(storing);
          break;
        }
      }
    }
    return { held, othersCopied: Promise.all([...owners].map((o) => o.copied)).then(() => {}) };
  }

  /**
   * Runs `store` with the batch registered as being stored (its keys held back by the others).
   * `direct`: the batch goes by a direct COPY and calls `copied` when that COPY has ended; any
   * other batch counts as copied at once (the judging statement waits on its own).
   */
  async storing<T>(batch: Batch, direct: boolean, store: () => Promise<T>): Promise<T> {
    let markCopied = () => {};
    const copied = new Promise<void>((resolve) => {
      markCopied = resolve;
    });
    if (!direct) markCopied();
    this.#storing.set(batch.firstByKey, { copied, markCopied });
    try {
      return await store();
    } finally {
      markCopied();
      this.#storing.delete(batch.firstByKey);
    }
  }

  /** The batch's direct COPY has ended (rows in, or given up): batches holding its keys go on. */
  copied(batch: Batch): void {
    this.#storing.get(batch.firstByKey)?.markCopied();
  }

  /** A direct COPY completed: the next pause starts from one batch again. */
  completed(): void {
    this.#nextPause = 1;
  }

  /** A direct COPY gave up: the next batches take the staging table, twice as many as last time. */
  gaveUp(): void {
    this.#fallbacks += 1;
    this.#pause = this.#nextPause;
    this.#nextPause = Math.min(MAX_DIRECT_PAUSE, this.#nextPause * 2);
  }
}
