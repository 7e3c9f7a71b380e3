import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { InputError } from '../errors.ts';

export interface Line {
  /** 1-based line number in the input, counting blank lines too, so that messages point at the right line. */
  lineNo: number;
  text: string;
}

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

/** The non-blank lines of a stream, one at a time (bounded memory, whatever the size). */
export async function* readLines(input: Readable): AsyncGenerator<Line> {
  const rl = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNo = 0;
  for await (const text of rl) {
    lineNo += 1;
    if (text.trim() === '') continue;
    yield { lineNo, text };
  }
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
