import type { Readable } from 'node:stream';
import { InputError } from '../errors.ts';
import type { BatchResult, EventIngestor, IngestItem } from './event-ingest.service.ts';
import { csvColumns, csvItem, type EventFormat, FileLineItem, ndjsonLineItem } from './event-line.parser.ts';
import { InFlightWindow } from './in-flight-window.ts';
import { eachChunkLines, isBadLine } from './line-source.ts';

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
 * Imports a file of login events (NDJSON or CSV with the header of `docs/file-formats.md`) through the one
 * ingest path. Every line is judged on its own: a line that is not valid UTF-8, holds a NUL
 * byte or is longer than `MAX_LINE_BYTES` is a reject from its bytes (`LineSplitter`), the rest
 * are parsed, and a value the database refuses costs only its own line (`EventIngestor` isolates it).
 * Each batch commits on its own, so an import killed half-way and run again ends with exact
 * counts (already stored lines are duplicates). Up to `concurrency` batches are in flight while
 * the next one is parsed.
 */
export async function importEventFile(
  ingestor: EventIngestor,
  input: Readable,
  options: FileImportOptions,
): Promise<FileImportResult> {
  const batchSize = options.batchSize ?? 10_000;
  const concurrency = Math.max(1, options.concurrency ?? 2);
  const result: FileImportResult = { accepted: 0, duplicates: 0, rejected: 0 };
  // At capacity the oldest batch is waited for: a stuck batch is overtaken by at most one window.
  const inFlight = new InFlightWindow();
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
      });
    inFlight.add(p);
  };

  let columns: number[] | undefined;
  let batch: IngestItem[] = [];
  const full: IngestItem[][] = [];
  let headerError: InputError | undefined;
  const take = (item: IngestItem) => {
    batch.push(item);
    if (batch.length >= batchSize) {
      full.push(batch);
      batch = [];
    }
  };
  const header = (lineNo: number, text: string | undefined, reason: string | undefined) => {
    try {
      if (reason !== undefined) throw new Error(`the CSV header ${reason}`);
      columns = csvColumns(text as string);
    } catch (error) {
      headerError = new InputError(`${options.name}:${lineNo}: ${(error as Error).message}`);
    }
  };
  await eachChunkLines(
    input,
    options.onProgress ?? (() => {}),
    // Lines judged bad from their bytes (the good ones come to the last callback, no object each).
    (line) => {
      if (headerError) return;
      const reason = isBadLine(line) ? line.reason : undefined;
      if (options.format === 'csv' && columns === undefined) header(line.lineNo, undefined, reason);
      else if (isBadLine(line))
        take(new FileLineItem(line.raw, { ok: false, reason: line.reason }, options.name, line.lineNo));
    },
    async () => {
      // Between chunks: hand full batches over, at most `concurrency` in flight.
      while (full.length > 0 && !failure) {
        await inFlight.below(concurrency);
        if (!failure) submit(full.shift() as IngestItem[]);
      }
      return !failure && !headerError;
    },
    (text, lineNo) => {
      if (headerError) return;
      if (options.format === 'ndjson') take(ndjsonLineItem(text, options.name, lineNo));
      else if (columns === undefined) header(lineNo, text, undefined);
      else take(csvItem(text, options.name, lineNo, columns));
    },
  );
  if (headerError) {
    await inFlight.settled();
    throw headerError;
  }
  for (const b of full) {
    await inFlight.below(concurrency);
    if (!failure) submit(b);
  }
  if (batch.length > 0 && !failure) {
    await inFlight.below(concurrency);
    if (!failure) submit(batch);
  }
  await inFlight.settled();
  if (failure) throw failure;
  return result;
}
