import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { InputError } from '../errors.ts';
import { LineSplitter, MAX_LINE_BYTES, type SplitLine } from './line-splitter.ts';

export { type BadLine, isBadLine, type Line, MAX_LINE_BYTES, type SplitLine } from './line-splitter.ts';

/** Opens FILE, or standard input for `-`; a missing file is bad input (exit 2) naming the path. */
export async function openInput(file: string): Promise<Readable> {
  if (file === '-') return process.stdin;
  const stream = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (e: NodeJS.ErrnoException) =>
      reject(new InputError(`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)),
    );
  });
  return stream;
}

/**
 * The non-blank lines of a byte stream, one at a time, each judged on its own (`LineSplitter`:
 * invalid UTF-8, NUL bytes and over-long lines come as `BadLine`s with their line numbers).
 * Linear time and bounded memory whatever the size. Chunk-wise feeding: `eachChunkLines`.
 */
export async function* readLines(input: Readable): AsyncGenerator<SplitLine> {
  let ready: SplitLine[] = [];
  const splitter = new LineSplitter((line) => ready.push(line));
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    const lines = ready;
    ready = [];
    yield* lines;
  }
  splitter.end();
  yield* ready;
}

/**
 * Feeds a byte stream through a `LineSplitter`, calling `onLine` synchronously for every line of
 * a chunk (no promise per line: an async generator per line cost more CPU than the parsing).
 * `afterChunk` runs between chunks and may wait (backpressure) or stop the reading (false).
 * `onText`, when given, receives the good lines instead of `onLine` (no object per line).
 * `sliceBytes`, when given, splits each chunk into slices of at most that many bytes and lets the
 * event loop run between them (`setImmediate`): a caller with a transaction in flight then
 * answers its replies (and sends its next statement) after at most one slice of parsing instead
 * of one whole chunk (64 KiB from a file, more from a pipe).
 */
export async function eachChunkLines(
  input: Readable,
  onBytes: (bytesRead: number) => void,
  onLine: (line: SplitLine) => void,
  afterChunk: () => Promise<boolean>,
  onText?: (text: string, lineNo: number) => void,
  sliceBytes?: number,
): Promise<void> {
  const splitter = new LineSplitter(onLine, MAX_LINE_BYTES, onText);
  let bytes = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += buf.length;
    onBytes(bytes);
    if (sliceBytes === undefined || buf.length <= sliceBytes) splitter.push(buf);
    else {
      for (let at = 0; at < buf.length; at += sliceBytes) {
        if (at > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        splitter.push(buf.subarray(at, at + sliceBytes));
      }
    }
    if (!(await afterChunk())) return;
  }
  splitter.end();
}

/** Groups an async sequence into arrays of at most `size` items. */
export async function* batched<T>(source: AsyncIterable<T>, size: number): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** JSON.parse with a message fit for a reject reason. */
export function parseJsonLine(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, reason: `not valid JSON: ${(error as Error).message}` };
  }
}
