/**
 * `COPY … TO STDOUT` read straight off the connection's socket, for text-like formats (CSV, text)
 * whose rows end with LF: the CopyData payloads are copied into blocks of `blockBytes`, each
 * row's final LF replaced by `rowEnd` (e.g. CRLF). PostgreSQL sends exactly one row per CopyData
 * message in copy-out mode (protocol docs, "COPY Operations"), so the end of a message is the end
 * of a row: no scan of the row's bytes, no quote tracking, and one copy per row into a block
 * that is handed on whole. A message that does not end with LF is refused, never guessed at.
 *
 * Used like pg-copy-streams' `to` (which it replaces on the export's path, where its per-message
 * buffers and stream plumbing cost more than the rows themselves): pass it to `client.query`; pg
 * calls `submit` when the connection is free, this object takes the socket's bytes until
 * CopyDone (or an ErrorResponse) and hands the rest back to pg's own parser, which then reports
 * the command's completion or error here.
 */

import { Buffer } from 'node:buffer';

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const NOTICE_RESPONSE = 0x4e; // 'N'
const PARAMETER_STATUS = 0x53; // 'S'
const NOTIFICATION_RESPONSE = 0x41; // 'A'
const LF = 0x0a;
/** Up to this many bytes `#put` copies in a loop rather than by `Buffer.copy`. */
const SHORT_COPY = 512;
/** The most released blocks kept for reuse. */
const MAX_SPARE = 8;
/** The most bytes of a row's end `onRowEnd` is shown. */
export const ROW_END_BYTES = 64;

/**
 * Shown the last bytes of every row, its LF left out: `bytes[from, to)` holds the row's last
 * min(row length, `ROW_END_BYTES`) bytes. Valid only during the call (the buffer is the socket's).
 */
export type RowEndHook = (bytes: Buffer, from: number, to: number) => void;

/** Appends `source[from, to)` to the output (`RowFormatter`'s only way to write). */
export type PutBytes = (source: Buffer, from: number, to: number) => void;

/**
 * Writes one row as the output holds it, through `put`: the row is `bytes[from, to)`, whole (put
 * together when it came in several chunks), its LF left out; `rowEnd` follows it. Valid only
 * during the call. Throws to refuse a row: the COPY then fails with that error.
 */
export type RowFormatter = (bytes: Buffer, from: number, to: number, put: PutBytes) => void;

/** The parts of pg's Connection used here (the socket and the query call). */
interface PgConnection {
  stream: Omit<NodeJS.ReadableStream, 'read'> & {
    read(): Buffer | null;
    listeners(event: 'data'): ((chunk: Buffer) => void)[];
    destroy(error?: Error): void;
  };
  query(text: string): void;
}

export class CopyRowsOut {
  readonly #text: string;
  readonly #rowEnd: Buffer;
  readonly #blockBytes: number;
  readonly #onRowEnd: RowEndHook | undefined;
  readonly #formatRow: RowFormatter | undefined;
  /** `formatRow`'s writer: `#put`, bound once. */
  readonly #putBytes: PutBytes = (source, from, to) => this.#put(source, from, to);
  /** With `formatRow`: the current row's bytes from earlier chunks, when it is split across chunks. */
  #rowParts: Buffer[] = [];
  /** The current row's last bytes from earlier chunks, when the row is split across chunks. */
  #rowStart: Buffer[] = [];
  #connection: PgConnection | undefined;
  #pgOnData: ((chunk: Buffer) => void) | undefined;
  #onReadable = () => this.#wake();
  #waiting: (() => void) | undefined;
  /** The message header being read (code + length) when it was split across chunks. */
  #header = Buffer.alloc(5);
  #headerHave = 0;
  #code = 0;
  /** Payload bytes of the current message still to come. */
  #left = -1;
  #block: Buffer;
  #used = 0;
  #ready: Buffer[] = [];
  /** Blocks handed back by the reader (`release`), filled again before any fresh one is taken. */
  readonly #spare: Buffer[];
  /** Past CopyDone or an error: the socket is pg's again. */
  #detached = false;
  #finished = false;
  /** The consumer stopped early: the rest of the rows is read and dropped. */
  #discard = false;
  #error: Error | undefined;
  /** Rows read (CopyData messages). */
  rows = 0;

  /**
   * `onRowEnd` is shown the end of each row as it is copied; `formatRow` instead writes each whole
   * row itself (e.g. rewriting some cells). Not both.
   */
  constructor(
    text: string,
    options: {
      rowEnd: string;
      blockBytes?: number;
      onRowEnd?: RowEndHook;
      formatRow?: RowFormatter;
      /** Free blocks of `blockBytes` to fill first; blocks released later join it (share it across COPYs). */
      spare?: Buffer[];
    },
  ) {
    if (options.onRowEnd && options.formatRow)
      throw new Error('CopyRowsOut: onRowEnd or formatRow, not both');
    this.#text = text;
    this.#rowEnd = Buffer.from(options.rowEnd, 'latin1');
    this.#blockBytes = options.blockBytes ?? 1 << 20;
    this.#onRowEnd = options.onRowEnd;
    this.#formatRow = options.formatRow;
    this.#spare = options.spare ?? [];
    this.#block = this.#freshBlock();
  }

  /** Called by pg when the connection is free: takes the socket over and sends the COPY. */
  submit(connection: PgConnection): void {
    this.#connection = connection;
    const socket = connection.stream;
    const listeners = socket.listeners('data');
    if (listeners.length !== 1)
      throw new Error(`expected pg's one socket data listener, found ${listeners.length}`);
    this.#pgOnData = listeners[0];
    socket.removeListener('data', this.#pgOnData as (chunk: Buffer) => void);
    socket.pause();
    socket.on('readable', this.#onReadable);
    connection.query(this.#text);
    this.#wake();
  }

  handleError(error: Error): void {
    this.#error = error;
    this.#wake();
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    this.#finished = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    w?.();
  }

  /**
   * The rows as blocks of exactly `blockBytes` (the last one smaller), in order, each row ended
   * by `rowEnd`; ends when the server has completed the command, throws its error if it failed.
   * A block is never filled again unless handed back by `release`: each may be kept or written
   * asynchronously.
   */
  async *blocks(): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        await this.#read();
        while (this.#ready.length > 0) yield this.#ready.shift() as Buffer;
        if (this.#error) throw this.#error;
        if (this.#finished) {
          if (this.#used > 0) {
            const last = this.#block.subarray(0, this.#used);
            this.#used = 0;
            yield last;
          }
          return;
        }
      }
    } finally {
      // Stopped early (the consumer threw or broke off): the server still sends the rest, and the
      // connection is usable again only after it; read it to the end and drop it.
      this.#discard = true;
      this.#ready = [];
      while (!this.#finished && !this.#error) await this.#read();
    }
  }

  /** Parses what the socket holds; waits for more when it held nothing new and COPY goes on. */
  async #read(): Promise<void> {
    const socket = this.#connection?.stream;
    let got = false;
    if (!this.#detached && socket) {
      while (!this.#detached) {
        const chunk = socket.read();
        if (chunk === null) break;
        try {
          this.#parse(chunk);
        } catch (error) {
          // The stream is not what COPY sends: nothing after it can be trusted, nor the connection.
          this.#error = error as Error;
          this.#detached = true;
          socket.destroy(this.#error);
          throw error;
        }
        got = true;
        if (this.#ready.length > 0) return;
      }
    }
    if (got || this.#finished || this.#error) return;
    await new Promise<void>((resolve) => {
      this.#waiting = resolve;
    });
  }

  #parse(chunk: Buffer): void {
    let at = 0;
    const length = chunk.length;
    /** Where the current row's bytes in this chunk begin. */
    let rowFrom = 0;
    while (at < length) {
      if (this.#left < 0) {
        // A message header: 1 byte code, 4 bytes length (itself included).
        if (
          this.#headerHave === 0 &&
          (chunk[at] as number) !== COPY_DATA &&
          !this.#known(chunk[at] as number)
        ) {
          this.#detach(chunk.subarray(at));
          return;
        }
        if (this.#headerHave === 0 && length - at >= 5) {
          // The usual case: the whole header in this chunk, read in place.
          this.#code = chunk[at] as number;
          this.#left = chunk.readUInt32BE(at + 1) - 4;
          at += 5;
        } else {
          while (this.#headerHave < 5 && at < length)
            this.#header[this.#headerHave++] = chunk[at++] as number;
          if (this.#headerHave < 5) return;
          this.#headerHave = 0;
          this.#code = this.#header[0] as number;
          this.#left = this.#header.readUInt32BE(1) - 4;
        }
        rowFrom = at;
        if (this.#code === COPY_DATA && this.#left === 0) throw new Error('COPY sent an empty row');
      }
      if (this.#code !== COPY_DATA) {
        const n = Math.min(this.#left, length - at);
        at += n;
        this.#left -= n;
        if (this.#left > 0) return;
        this.#left = -1;
        if (this.#code === COPY_DONE) {
          this.#detach(chunk.subarray(at));
          return;
        }
        continue;
      }
      if (this.#formatRow) {
        at = this.#formatted(chunk, at);
        continue;
      }
      // CopyData: the payload but its last byte, then that byte (LF) becomes rowEnd.
      const body = Math.min(this.#left - 1, length - at);
      if (body > 0) {
        this.#put(chunk, at, at + body);
        at += body;
        this.#left -= body;
      }
      if (at === length && this.#onRowEnd && !this.#discard && at > rowFrom) {
        // The row goes on in the next chunk: keep (a copy of) its last bytes so far.
        this.#rowStart.push(Buffer.from(chunk.subarray(Math.max(rowFrom, at - ROW_END_BYTES), at)));
        if (this.#rowStart.length > 2) {
          // A row over several chunks: only its last ROW_END_BYTES bytes are ever shown.
          const joined = Buffer.concat(this.#rowStart);
          this.#rowStart = [joined.subarray(Math.max(0, joined.length - ROW_END_BYTES))];
        }
      }
      if (this.#left === 1 && at < length) {
        if (chunk[at] !== LF) throw new Error('COPY sent a row that does not end with LF');
        if (this.#onRowEnd && !this.#discard) this.#showRowEnd(chunk, rowFrom, at);
        this.#put(this.#rowEnd, 0, this.#rowEnd.length);
        at += 1;
        this.#left = -1;
        this.rows += 1;
      }
    }
  }

  /**
   * The `formatRow` path of a CopyData payload from `chunk[at]` on: a row whole in the chunk (the
   * usual case) is formatted in place; else its bytes are kept until its last chunk. Returns
   * where the chunk's next message begins (or its end).
   */
  #formatted(chunk: Buffer, at: number): number {
    const n = Math.min(this.#left, chunk.length - at);
    if (n < this.#left) {
      if (!this.#discard) this.#rowParts.push(Buffer.from(chunk.subarray(at, at + n)));
      this.#left -= n;
      return at + n;
    }
    this.#left = -1;
    this.rows += 1;
    if (this.#rowParts.length === 0) {
      this.#formatRowBytes(chunk, at, at + n);
    } else {
      const row = Buffer.concat([...this.#rowParts, chunk.subarray(at, at + n)]);
      this.#rowParts = [];
      this.#formatRowBytes(row, 0, row.length);
    }
    return at + n;
  }

  #formatRowBytes(bytes: Buffer, from: number, to: number): void {
    if (bytes[to - 1] !== LF) throw new Error('COPY sent a row that does not end with LF');
    if (this.#discard) return;
    (this.#formatRow as RowFormatter)(bytes, from, to - 1, this.#putBytes);
    this.#put(this.#rowEnd, 0, this.#rowEnd.length);
  }

  /** Calls `onRowEnd` with the row's last bytes: `chunk[from, to)` and any kept from earlier chunks. */
  #showRowEnd(chunk: Buffer, from: number, to: number): void {
    const hook = this.#onRowEnd as RowEndHook;
    if (this.#rowStart.length === 0) {
      hook(chunk, Math.max(from, to - ROW_END_BYTES), to);
      return;
    }
    // Rare (about once per socket chunk): the row's end is put together from its pieces.
    const joined = Buffer.concat([...this.#rowStart, chunk.subarray(from, to)]);
    this.#rowStart = [];
    hook(joined, Math.max(0, joined.length - ROW_END_BYTES), joined.length);
  }

  /**
   * Codes other than CopyData that may come before CopyDone (COPY's own and asynchronous ones);
   * anything else (an ErrorResponse) is pg's to parse.
   */
  #known(code: number): boolean {
    return (
      code === COPY_OUT_RESPONSE ||
      code === COPY_DONE ||
      code === NOTICE_RESPONSE ||
      code === PARAMETER_STATUS ||
      code === NOTIFICATION_RESPONSE
    );
  }

  /** Copies source[from, to) into the current block, starting new blocks as they fill. */
  #put(source: Buffer, from: number, to: number): void {
    if (this.#discard) return;
    while (from < to) {
      const n = Math.min(to - from, this.#blockBytes - this.#used);
      const block = this.#block;
      const used = this.#used;
      // A row's few dozen bytes are copied by a loop: `Buffer.copy` of part of a buffer makes a
      // typed-array view per call, which for one call per row cost more than the rows (and GC).
      if (n < SHORT_COPY) for (let i = 0; i < n; i++) block[used + i] = source[from + i] as number;
      else source.copy(block, used, from, from + n);
      this.#used += n;
      from += n;
      if (this.#used === this.#blockBytes) {
        this.#ready.push(this.#block);
        this.#block = this.#freshBlock();
        this.#used = 0;
      }
    }
  }

  /** A block to fill: a released one when there is one. */
  #freshBlock(): Buffer {
    const spare = this.#spare.pop();
    return spare !== undefined && spare.length === this.#blockBytes
      ? spare
      : Buffer.allocUnsafe(this.#blockBytes);
  }

  /**
   * Hands back a block `blocks()` yielded once nothing reads it any more (written out): later
   * blocks are filled in it instead of in fresh memory, whose every page costs a page fault at
   * its first write (measured: ~4% of the export's CPU). Only whole blocks are kept.
   */
  release(block: Buffer): void {
    if (block.length === this.#blockBytes && this.#spare.length < MAX_SPARE) this.#spare.push(block);
  }

  /**
   * Gives the socket back to pg with the bytes not read here (CommandComplete and
   * ReadyForQuery after CopyDone; an ErrorResponse and what follows): pg parses them and calls
   * `handleReadyForQuery` or `handleError`.
   */
  #detach(rest: Buffer): void {
    const connection = this.#connection as PgConnection;
    const socket = connection.stream;
    this.#detached = true;
    socket.removeListener('readable', this.#onReadable);
    const pgOnData = this.#pgOnData as (chunk: Buffer) => void;
    socket.on('data', pgOnData);
    if (rest.length > 0) pgOnData(Buffer.from(rest));
    process.nextTick(() => socket.resume());
  }
}
