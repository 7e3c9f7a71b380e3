import type { Readable } from 'node:stream';
import { InputError } from '../errors.ts';
import type { BatchResult, EventIngestor, IngestItem } from './event-ingest.service.ts';
import { csvColumns, csvItem, type EventFormat, ndjsonItem } from './event-line.parser.ts';

export interface FileImportOptions {
  format: EventFormat;
  /** Shown in locations (`NAME:LINE`) of rejects. */
  name: string;
  /** Events per transaction. Big batches amortise the statement; 10k keeps memory small (20k: +70 MB peak, no faster). */
  batchSize?: number;
  /** Batches in flight on separate connections (1 on the embedded database: it runs one query at a time). */
  concurrency?: number;
  /** Called with the bytes read so far (for a progress bar). */
  onProgress?: (bytesRead: number) => void;
  /** Called for each rejected line, after its batch committed (the reject is stored by then). */
  onReject?: (location: string, reason: string) => void;
}

export interface FileImportResult {
  accepted: number;
  duplicates: number;
  rejected: number;
}

/**
 * Splits a byte stream into lines with their 1-based numbers (blank lines skipped but counted),
 * calling `onLine` synchronously for every line of a chunk: no promise per line (an async
 * generator per line cost more CPU than the parsing). `afterChunk` runs between chunks and may
 * wait (backpressure), so memory stays bounded whatever the file size.
 */
async function eachLine(
  input: Readable,
  onBytes: (n: number) => void,
  onLine: (lineNo: number, line: string) => void,
  afterChunk: () => Promise<boolean>,
): Promise<void> {
  let rest = '';
  let lineNo = 0;
  let bytes = 0;
  const emit = (line: string) => {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() !== '') onLine(lineNo, text);
  };
  input.setEncoding('utf8');
  for await (const chunk of input as AsyncIterable<string>) {
    bytes += Buffer.byteLength(chunk);
    onBytes(bytes);
    const text = rest + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      lineNo += 1;
      emit(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
    if (!(await afterChunk())) return;
  }
  if (rest !== '') {
    lineNo += 1;
    emit(rest);
  }
}

/**
 * Imports a file of login events (NDJSON or CSV with the header of `docs/file-formats.md`) through the one
 * ingest path. Every line is judged on its own; each batch commits on its own, so an import
 * killed half-way and run again ends with exact counts (already stored lines are duplicates).
 * Up to `concurrency` batches are in flight while the next one is parsed.
 */
export async function importEventFile(
  ingestor: EventIngestor,
  input: Readable,
  options: FileImportOptions,
): Promise<FileImportResult> {
  const batchSize = options.batchSize ?? 10_000;
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const result: FileImportResult = { accepted: 0, duplicates: 0, rejected: 0 };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;

  const submit = (items: IngestItem[]) => {
    const p: Promise<void> = ingestor
      .ingest(items, { source: 'file' })
      .then((r: BatchResult) => {
        result.accepted += r.accepted;
        result.duplicates += r.duplicates;
        result.rejected += r.rejected.length;
        for (const rej of r.rejected)
          options.onReject?.((items[rej.index] as IngestItem).location, rej.reason);
      })
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  let columns: number[] | undefined;
  let batch: IngestItem[] = [];
  const full: IngestItem[][] = [];
  let headerError: InputError | undefined;
  await eachLine(
    input,
    options.onProgress ?? (() => {}),
    (lineNo, text) => {
      if (headerError) return;
      const location = `${options.name}:${lineNo}`;
      if (options.format === 'csv' && columns === undefined) {
        try {
          columns = csvColumns(text);
        } catch (error) {
          headerError = new InputError(`${location}: ${(error as Error).message}`);
        }
        return;
      }
      batch.push(
        options.format === 'csv' ? csvItem(text, location, columns as number[]) : ndjsonItem(text, location),
      );
      if (batch.length >= batchSize) {
        full.push(batch);
        batch = [];
      }
    },
    async () => {
      // Between chunks: hand full batches over, at most `concurrency` in flight.
      while (full.length > 0 && !failure) {
        while (inFlight.size >= concurrency) await Promise.race(inFlight);
        if (!failure) submit(full.shift() as IngestItem[]);
      }
      return !failure && !headerError;
    },
  );
  if (headerError) {
    await Promise.all(inFlight);
    throw headerError;
  }
  for (const b of full) {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (!failure) submit(b);
  }
  if (batch.length > 0 && !failure) {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    if (!failure) submit(batch);
  }
  await Promise.all(inFlight);
  if (failure) throw failure;
  return result;
}
