import { stat } from 'node:fs/promises';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { InputError } from '../../errors.ts';
import { importEventFile } from '../../ingest/event-file-import.ts';
import { EventIngestor } from '../../ingest/event-ingest.service.ts';
import type { EventFormat } from '../../ingest/event-line.parser.ts';
import { openInput } from '../../ingest/line-source.ts';
import { formatReject, purgeRejects, rejectJson, streamRejects } from '../../ingest/rejects.service.ts';
import type { CliContext } from '../context.ts';
import { boundHeapGrowth } from '../heap-growth.ts';
import { printImportCounts } from '../import-counts.ts';
import { parseIntOption } from '../options.ts';

/** At most this many reject lines on stderr; the rest are listed by `billing ingest rejects`. */
const MAX_PRINTED_REJECTS = 100;

function formatOf(file: string, option: EventFormat | undefined): EventFormat {
  if (option) return option;
  return file.toLowerCase().endsWith('.csv') ? 'csv' : 'ndjson';
}

async function progressBar(
  ctx: CliContext,
  file: string,
): Promise<{ update(bytes: number): void; stop(): void } | undefined> {
  if (!ctx.showProgress || file === '-') return undefined;
  const { size } = await stat(file);
  const bar = new SingleBar({
    stream: process.stderr,
    format: 'ingest [{bar}] {percentage}% | {value}/{total} MB | eta {eta}s',
    hideCursor: true,
  });
  const mb = (b: number) => Math.round(b / 104857.6) / 10;
  bar.start(mb(size), 0);
  return { update: (bytes) => bar.update(mb(bytes)), stop: () => bar.stop() };
}

export function registerIngest(program: Command, ctx: CliContext): void {
  const ingest = program
    .command('ingest')
    .description(
      'import login events (NDJSON or CSV); exit 2 if any line was rejected (the good ones are stored)',
    )
    .argument('<file>', 'NDJSON or CSV file (a name ending in .csv is CSV), or - for standard input')
    .addOption(new Option('--format <format>', 'input format').choices(['ndjson', 'csv']))
    .option('--json', 'print the counts as one JSON object on the last line')
    .option(
      '--batch-size <n>',
      'events per transaction',
      (v: string) => {
        const n = parseIntOption('--batch-size')(v);
        if (n < 1 || n > 100_000) throw new InvalidArgumentError('--batch-size must be between 1 and 100000');
        return n;
      },
      10_000,
    )
    .action(async (file: string, opts: { format?: EventFormat; json?: boolean; batchSize: number }) => {
      boundHeapGrowth();
      const input = await openInput(file);
      const conn = await ctx.database();
      const bar = await progressBar(ctx, file);
      let printed = 0;
      const started = process.hrtime.bigint();
      let result: Awaited<ReturnType<typeof importEventFile>>;
      try {
        result = await importEventFile(new EventIngestor(conn.db, undefined, { directCopy: true }), input, {
          format: formatOf(file, opts.format),
          name: file === '-' ? 'stdin' : file,
          batchSize: opts.batchSize,
          concurrency: conn.kind === 'embedded' ? 1 : 2,
          onProgress: bar ? (bytes) => bar.update(bytes) : undefined,
          onReject: (location, reason) => {
            printed += 1;
            if (printed <= MAX_PRINTED_REJECTS) process.stderr.write(`${location}: ${reason}\n`);
          },
        });
      } finally {
        bar?.stop();
      }
      if (printed > MAX_PRINTED_REJECTS) {
        process.stderr.write(`... and ${printed - MAX_PRINTED_REJECTS} more: see billing ingest rejects\n`);
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      // Peak RSS in MB: the benchmark reads it from this line (bounded memory is a promise of ingest).
      const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
      ctx.logger.info(
        {
          ...result,
          seconds,
          eventsPerSecond: Math.round((result.accepted + result.duplicates + result.rejected) / seconds),
          maxRssMb,
        },
        'ingest finished',
      );
      const { accepted, duplicates, rejected } = result;
      printImportCounts(ctx, { accepted, duplicates, rejected }, rejected, opts.json);
    });

  const rejects = ingest
    .command('rejects')
    .description('list kept rejected events with their reasons (open ones; --all for resolved too)')
    .option('--tenant <id>', 'only this tenant')
    .option('--all', 'include rejects resolved by a later accepted event')
    .option('--json', 'one JSON array (streamed: any number of rejects in bounded memory)')
    .action(async (_opts: unknown, cmd: Command) => {
      // `--json` is also an option of `ingest` itself, which commander lets the parent take:
      // read the merged options.
      const opts = cmd.optsWithGlobals<{ tenant?: string; all?: boolean; json?: boolean }>();
      if (opts.tenant !== undefined && opts.tenant === '') throw new InputError('--tenant must not be empty');
      const { db } = await ctx.database();
      const all = streamRejects(db, { tenantId: opts.tenant, includeResolved: opts.all === true });
      if (opts.json) {
        let first = true;
        await write('[');
        for await (const r of all) {
          await write(`${first ? '' : ','}\n${JSON.stringify(rejectJson(r))}`);
          first = false;
        }
        return write(first ? ']\n' : '\n]\n');
      }
      let none = true;
      for await (const r of all) {
        none = false;
        await write(`${formatReject(r)}\n`);
      }
      if (none) ctx.print('no rejects');
    });

  rejects
    .command('purge')
    .description(
      'retention: delete rejects received before DATE (resolved ones; --include-open for open ones too)',
    )
    .requiredOption('--before <date>', 'YYYY-MM-DD (00:00 UTC) or an RFC 3339 instant', parseBefore)
    .option('--include-open', 'also delete rejects that were never resolved')
    .option('--tenant <id>', 'only this tenant')
    .action(async (opts: { before: Date; includeOpen?: boolean; tenant?: string }) => {
      if (opts.tenant !== undefined && opts.tenant === '') throw new InputError('--tenant must not be empty');
      const { db } = await ctx.database();
      const n = await purgeRejects(db, {
        before: opts.before,
        includeOpen: opts.includeOpen === true,
        tenantId: opts.tenant,
      });
      ctx.print(
        `deleted ${n} ${opts.includeOpen ? '' : 'resolved '}rejects received before ${opts.before.toISOString()}`,
      );
    });
}

/** `--before`: a day (midnight UTC) or an instant with Z or an offset. */
function parseBefore(value: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const instant = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value);
  const d = new Date(day ? `${value}T00:00:00Z` : value);
  if ((!day && !instant) || Number.isNaN(d.getTime()) || (day && d.toISOString().slice(0, 10) !== value)) {
    throw new InvalidArgumentError(`--before must be YYYY-MM-DD or an RFC 3339 instant, got "${value}"`);
  }
  return d;
}

/** Writes to stdout and waits when its buffer is full (a listing of millions stays bounded). */
function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(text)) return resolve();
    const onDrain = () => {
      process.stdout.off('error', onError);
      resolve();
    };
    const onError = (e: Error) => {
      process.stdout.off('drain', onDrain);
      reject(e);
    };
    process.stdout.once('drain', onDrain);
    process.stdout.once('error', onError);
  });
}
