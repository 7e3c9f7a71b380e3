import { isUtf8 } from 'node:buffer';

/** The longest line a file may hold, in bytes (without its line break): 1 MiB. A longer line is a reject. */
export const MAX_LINE_BYTES = 1024 * 1024;

/** How much of an over-long line is kept in its reject (the head; the rest is never buffered). */
export const KEPT_HEAD_BYTES = 4096;

/** A line that is text: valid UTF-8, no NUL byte, within the length limit. */
export interface Line {
  /** 1-based line number in the input, counting blank lines too, so that messages point at the right line. */
  lineNo: number;
  text: string;
}

/** A line judged bad from its bytes alone: it never reaches a parser. */
export interface BadLine {
  lineNo: number;
  /** Why, naming the byte offset in the line where there is one. */
  reason: string;
  /** The line's bytes as read (only the head of an over-long line). */
  raw: Uint8Array;
}

export type SplitLine = Line | BadLine;

export const isBadLine = (line: SplitLine): line is BadLine => 'reason' in line;

/**
 * Splits bytes into lines, each judged on its own: a line that is not valid UTF-8 or holds a
 * NUL byte is a `BadLine` with the byte offset (never rewritten with U+FFFD), a line longer
 * than `maxBytes` is a `BadLine` holding its first `KEPT_HEAD_BYTES` only. Blank lines are
 * counted but not emitted; a CR before the LF is dropped.
 *
 * Linear in the input and bounded in memory: each chunk is scanned once for LF, and the pieces
 * of an unfinished line are kept as a list (never re-concatenated per chunk) up to `maxBytes`.
 */
export class LineSplitter {
  readonly #emit: (line: SplitLine) => void;
  /** Receives the good lines instead of `#emit` when given: no object per line. */
  readonly #emitText: ((text: string, lineNo: number) => void) | undefined;
  readonly #maxBytes: number;
  /** The head kept of an over-long line. */
  readonly #headBytes: number;
  #parts: Buffer[] = [];
  #bytes = 0;
  #overlong = false;
  #lineNo = 0;

  constructor(
    emit: (line: SplitLine) => void,
    maxBytes = MAX_LINE_BYTES,
    emitText?: (text: string, lineNo: number) => void,
  ) {
    this.#emit = emit;
    this.#emitText = emitText;
    this.#maxBytes = maxBytes;
    this.#headBytes = Math.min(KEPT_HEAD_BYTES, maxBytes);
  }

  /** Feeds one chunk; emits every line it completes, synchronously. */
  push(chunk: Buffer): void {
    let start = 0;
    if (this.#bytes > 0) {
      // The first line of this chunk completes the one carried over.
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.#keep(chunk);
        return;
      }
      this.#keep(chunk.subarray(0, nl));
      this.#finishLine();
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(10);
    if (last >= start) {
      const whole = chunk.subarray(start, last + 1);
      if (!this.#textLines(whole)) this.#byteLines(whole);
      start = last + 1;
    }
    if (start < chunk.length) this.#keep(chunk.subarray(start));
  }

  /**
   * The fast path for complete lines that are all good: one native UTF-8 and NUL check and one
   * decode for the whole run, then splitting in string space. False (nothing emitted) when the
   * run needs judging line by line.
   */
  #textLines(run: Buffer): boolean {
    if (run.length > this.#maxBytes || run.indexOf(0) >= 0 || !isUtf8(run)) return false;
    const text = run.toString('utf8');
    let from = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
      this.#lineNo += 1;
      const end = nl > from && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      const line = text.slice(from, end);
      if (line.trim() !== '') this.#text(line, this.#lineNo);
      from = nl + 1;
    }
    return true;
  }

  /** Complete lines judged one by one from their bytes. */
  #byteLines(run: Buffer): void {
    let start = 0;
    for (let nl = run.indexOf(10); nl >= 0; nl = run.indexOf(10, start)) {
      this.#keep(run.subarray(start, nl));
      this.#finishLine();
      start = nl + 1;
    }
  }

  /** The input ended: emits a last line without a line break, if any. */
  end(): void {
    if (this.#bytes > 0) this.#finishLine();
  }

  #keep(piece: Buffer): void {
    if (piece.length === 0) return;
    this.#bytes += piece.length;
    if (this.#overlong) return;
    if (this.#bytes > this.#maxBytes + 1) {
      // +1: a CR before the LF does not count. From here on only the byte count grows.
      this.#overlong = true;
      const head = Buffer.concat([...this.#parts, piece]).subarray(0, this.#headBytes);
      this.#parts = [Buffer.from(head)];
      return;
    }
    this.#parts.push(piece);
  }

  #finishLine(): void {
    this.#lineNo += 1;
    const lineNo = this.#lineNo;
    const bytes = this.#bytes;
    const overlong = this.#overlong;
    const parts = this.#parts;
    this.#parts = [];
    this.#bytes = 0;
    this.#overlong = false;
    if (overlong) {
      this.#emit(this.#tooLong(lineNo, bytes, parts[0] as Buffer));
      return;
    }
    let buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, bytes);
    if (buf.length > 0 && buf[buf.length - 1] === 13) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > this.#maxBytes) {
      this.#emit(this.#tooLong(lineNo, buf.length, buf));
      return;
    }
    const reason = byteProblem(buf);
    if (reason !== undefined) {
      // A copy: the line's bytes may be a view of a larger chunk.
      this.#emit({ lineNo, reason, raw: Buffer.from(buf) });
      return;
    }
    const text = buf.toString('utf8');
    if (text.trim() !== '') this.#text(text, lineNo);
  }

  #text(text: string, lineNo: number): void {
    if (this.#emitText) this.#emitText(text, lineNo);
    else this.#emit({ lineNo, text });
  }

  #tooLong(lineNo: number, bytes: number, head: Buffer): BadLine {
    return {
      lineNo,
      reason: `line too long: ${bytes} bytes, the limit is ${this.#maxBytes} bytes (only the first ${this.#headBytes} bytes are kept)`,
      raw: Buffer.from(head.subarray(0, this.#headBytes)),
    };
  }
}

/** Why these bytes are not a line of text, or undefined when they are. */
export function byteProblem(buf: Uint8Array): string | undefined {
  const nul = buf.indexOf(0);
  if (nul >= 0) return `contains a NUL byte (0x00) at byte offset ${nul} of the line`;
  if (!isUtf8(buf)) return `not valid UTF-8 at byte offset ${firstInvalidUtf8(buf)} of the line`;
  return undefined;
}

/**
 * The offset of the first byte that does not start or continue a well-formed UTF-8 sequence
 * (Unicode table 3-7: no overlongs, no surrogates, nothing above U+10FFFF), or -1.
 * A sequence cut short by the end counts as invalid at its first byte.
 */
export function firstInvalidUtf8(buf: Uint8Array): number {
  const n = buf.length;
  let i = 0;
  while (i < n) {
    const b = buf[i] as number;
    if (b < 0x80) {
      i += 1;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return i;
    const second = buf[i + 1];
    if (second === undefined || second < lo || second > hi) return i;
    for (let k = 2; k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || c < 0x80 || c > 0xbf) return i;
    }
    i += need + 1;
  }
  return -1;
}
