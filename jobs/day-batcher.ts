import type { BillDayInput } from '../src/billing/bill-day.service.ts';
import { billDays, type DayBilled } from '../src/billing/bill-days.service.ts';
import type { Db } from '../src/db/database.ts';
import type { Logger } from '../src/logger.ts';

/** The fewest days a second batch starts with while another one is running. */
const MIN_BATCH = 8;

/**
 * Bills the tenant-days of the jobs a worker holds at once together (`billDays`): each job
 * hands its day over (a `bill-days` job, each of its days) and gets that day's own result
 * back, so a day still succeeds, fails and is retried alone, while the database sees a few batches instead of one transaction
 * per day. The days that arrive while batches are running wait and go together into the next
 * one, so batches grow with the backlog, and a lone job is
 * billed at once when no batch is running.
 */
export class DayBatcher {
  #waiting: { input: BillDayInput; resolve: (r: DayBilled) => void }[] = [];
  #running = 0;
  #scheduled = false;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly lanes = 1,
  ) {}

  bill(input: BillDayInput): Promise<DayBilled> {
    return new Promise((resolve) => {
      this.#waiting.push({ input, resolve });
      if (this.#scheduled) return;
      // The jobs a worker takes in the same turn of the event loop join one batch.
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.#start();
      });
    });
  }

  #start(): void {
    // A lane that is free while another batch runs waits for a few days to gather: batches of
    // one day each would cost what one transaction per day costs.
    const ready = () =>
      this.#waiting.length > 0 && (this.#running === 0 || this.#waiting.length >= MIN_BATCH);
    while (this.#running < this.lanes && ready()) {
      // The whole backlog in one batch (billDays commits it in transactions of `BATCH_DAYS` days):
      // capping each batch at one transaction kept both lanes of both workers writing at once,
      // four transactions on two cores, and the quiet 10,000-tenant night took 36-38 s instead
      // of 27.6 s (docs/performance/billing-night.md).
      const batch = this.#waiting.splice(0, this.#waiting.length);
      this.#running += 1;
      billDays(
        this.db,
        batch.map((b) => b.input),
        this.logger,
      )
        .then(
          (results) => {
            for (const [k, b] of batch.entries()) b.resolve(results[k] as DayBilled);
          },
          (error: unknown) => {
            const failed = error instanceof Error ? error : new Error(String(error));
            for (const b of batch) b.resolve({ error: failed });
          },
        )
        .finally(() => {
          this.#running -= 1;
          this.#start();
        });
    }
  }
}
