/**
 * Lines' texts held as UTF-8 bytes outside V8's heap, read back by index. The settings import
 * keeps every good line's text until its batch commits, only to report the rare line the
 * database refuses: as strings they were ~30% of what a batch held on the heap, copied by every
 * scavenge they lived through (docs/performance/settings.md, twelfth pass). A text decoded from
 * valid UTF-8 (every line the splitter passes) comes back exactly; a lone surrogate would not.
 */
export class HeldTexts {
  #bytes: Buffer;
  #used = 0;
  /** Byte offset where text i ends (it starts where text i-1 ends). */
  readonly #ends: number[] = [];

  constructor(initialBytes = 64 * 1024) {
    this.#bytes = Buffer.allocUnsafe(initialBytes);
  }

  /** Holds `text`; returns its index. */
  add(text: string): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const most = text.length * 3;
    if (this.#used + most > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#bytes.length * 2, this.#used + most));
      this.#bytes.copy(grown, 0, 0, this.#used);
      this.#bytes = grown;
    }
    this.#used += this.#bytes.write(text, this.#used, 'utf8');
    this.#ends.push(this.#used);
    return this.#ends.length - 1;
  }

  /** The text held at `index`. */
  text(index: number): string {
    const end = this.#ends[index];
    if (end === undefined) throw new RangeError(`no text held at ${index}`);
    return this.#bytes.toString('utf8', index === 0 ? 0 : (this.#ends[index - 1] as number), end);
  }
}
