/**
 * Batches in flight, oldest first. A caller at capacity waits for the OLDEST batch to settle, not
 * for any: the batches in flight are then always consecutive ones, so a batch stuck on its way to
 * the database (a slow connection start, a lock) is overtaken by at most the batches of one
 * window, never by every batch behind it. This is what keeps "the first occurrence of a reused
 * eventId wins" in input order for occurrences farther apart than the window (stream, file).
 */
export class InFlightWindow {
  readonly #tasks: Promise<void>[] = [];

  get size(): number {
    return this.#tasks.length;
  }

  /** Adds a batch in flight. The caller keeps its failure (`task` should not reject; if it does, the window only forgets it). */
  add(task: Promise<void>): void {
    const remove = () => {
      this.#tasks.splice(this.#tasks.indexOf(tracked), 1);
    };
    const tracked: Promise<void> = task.then(remove, remove);
    this.#tasks.push(tracked);
  }

  /** Waits for the oldest batch in flight, if any. */
  async oldestSettled(): Promise<void> {
    await this.#tasks[0];
  }

  /** Waits until fewer than `capacity` batches are in flight, oldest first. */
  async below(capacity: number): Promise<void> {
    while (this.#tasks.length >= capacity) await this.#tasks[0];
  }

  /** Waits for every batch in flight. */
  async settled(): Promise<void> {
    await Promise.all(this.#tasks);
  }
}
