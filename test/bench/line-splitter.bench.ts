/**
 * Line splitter benchmark (issue 14): files with one huge line among good ones, fed in 64 KiB
 * chunks as `fs.createReadStream` gives them. The old splitter (`rest + chunk`, then `indexOf`
 * over everything) was quadratic: 18 s for one 20 MB line, 60 s and 456 MB for 40 MB. The floor
 * is one `Buffer.indexOf(LF)` pass over the same bytes, measured in the same run.
 *
 *   npm run bench -- line-splitter
 */
import { isBadLine, LineSplitter } from '../../src/ingest/line-splitter.ts';
import { median } from './stats.ts';

const CHUNK = 64 * 1024;

function chunksOf(hugeMb: number): Buffer[] {
  const good = Buffer.from(
    `${JSON.stringify({ eventId: 'e', tenantId: 't', userId: 'u', occurredAt: 'x' })}\n`,
  );
  const file = Buffer.concat([good, Buffer.alloc(hugeMb * 1024 * 1024, 0x61), Buffer.from('\n'), good]);
  const chunks: Buffer[] = [];
  for (let at = 0; at < file.length; at += CHUNK) chunks.push(file.subarray(at, at + CHUNK));
  return chunks;
}

function timeSplitter(chunks: Buffer[]): { ms: number; lines: number; bad: number } {
  let lines = 0;
  let bad = 0;
  const started = process.hrtime.bigint();
  const s = new LineSplitter((l) => {
    lines += 1;
    if (isBadLine(l)) bad += 1;
  });
  for (const c of chunks) s.push(c);
  s.end();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, lines, bad };
}

function timeFloor(chunks: Buffer[]): number {
  const started = process.hrtime.bigint();
  let found = 0;
  for (const c of chunks) for (let at = c.indexOf(10); at >= 0; at = c.indexOf(10, at + 1)) found += 1;
  if (found < 0) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export async function run(): Promise<void> {
  timeSplitter(chunksOf(1)); // warm-up
  for (const mb of [10, 20, 40, 80]) {
    const chunks = chunksOf(mb);
    const floor = median(Array.from({ length: 5 }, () => timeFloor(chunks)));
    const rssBefore = process.memoryUsage().rss;
    const runs = Array.from({ length: 5 }, () => timeSplitter(chunks));
    const r = { ...(runs[0] as ReturnType<typeof timeSplitter>), ms: median(runs.map((x) => x.ms)) };
    const rssGrowth = (process.memoryUsage().rss - rssBefore) / 1048576;
    console.log(
      `one ${mb} MB line among good ones: ${r.ms.toFixed(1)} ms (median of 5) (${r.lines} lines, ${r.bad} reject), ` +
        `floor ${floor.toFixed(1)} ms (x${(r.ms / Math.max(floor, 0.001)).toFixed(1)}), RSS growth ${rssGrowth.toFixed(0)} MB`,
    );
  }
}
