import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eachChunkLines, isBadLine, type SplitLine } from '../../src/ingest/line-source.ts';

/** The lines `eachChunkLines` gives for `chunks`, good ones through `onText`, and how many chunks it saw. */
async function lines(chunks: Buffer[], sliceBytes?: number) {
  const out: unknown[] = [];
  let afterChunks = 0;
  const keep = (l: SplitLine) =>
    out.push(isBadLine(l) ? { lineNo: l.lineNo, reason: l.reason } : { lineNo: l.lineNo, text: l.text });
  await eachChunkLines(
    Readable.from(chunks, { objectMode: true }),
    () => {},
    keep,
    async () => {
      afterChunks += 1;
      return true;
    },
    (text, lineNo) => out.push({ lineNo, text }),
    sliceBytes,
  );
  return { out, afterChunks };
}

describe('eachChunkLines', () => {
  it('gives the same lines whatever the slices a chunk is parsed in, one afterChunk per chunk (property)', async () => {
    const line = fc.oneof(
      fc.string({ maxLength: 40 }).map((s) => Buffer.from(s.replace(/\n/g, ' '))),
      fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b.filter((x) => x !== 10))), // any bytes: bad UTF-8, NUL
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 32 }),
        async (ls, sizes, slice) => {
          const input = Buffer.concat(ls.flatMap((l) => [l, Buffer.from('\n')]));
          const chunks: Buffer[] = [];
          for (let at = 0, k = 0; at < input.length; k++) {
            const n = sizes[k % sizes.length] as number;
            chunks.push(input.subarray(at, at + n));
            at += n;
          }
          const whole = await lines(chunks);
          const sliced = await lines(chunks, slice);
          expect(sliced.out).toEqual(whole.out);
          expect(sliced.afterChunks).toBe(chunks.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('parses a 64 KiB chunk in slices with the event loop running between them', async () => {
    const chunk = Buffer.from(`${'x'.repeat(99)}\n`.repeat(655));
    // Turns of the event loop while it parses: a check-phase callback that schedules itself again.
    let turns = 0;
    let counting = true;
    const count = () => {
      turns += 1;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const turnsBefore = turns;
    const seen: number[] = [];
    try {
      await eachChunkLines(
        Readable.from([chunk], { objectMode: true }),
        () => {},
        () => {},
        async () => true,
        (_text, lineNo) => seen.push(lineNo),
        1024,
      );
    } finally {
      counting = false;
    }
    expect(seen).toHaveLength(655);
    // 64 slices of 1 KiB: the loop ran between them (a whole chunk at once gives no turn).
    expect(turns - turnsBefore).toBeGreaterThanOrEqual(60);
  });
});
