import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  byteProblem,
  firstInvalidUtf8,
  isBadLine,
  KEPT_HEAD_BYTES,
  LineSplitter,
  type SplitLine,
} from '../../src/ingest/line-splitter.ts';

/** Splits `input` fed in the given chunk sizes (cycled). */
function split(input: Buffer, chunkSizes: number[] = [input.length || 1], maxBytes?: number): SplitLine[] {
  const out: SplitLine[] = [];
  const s = new LineSplitter((l) => out.push(l), maxBytes);
  let at = 0;
  for (let k = 0; at < input.length; k++) {
    const n = Math.max(1, chunkSizes[k % chunkSizes.length] as number);
    s.push(input.subarray(at, at + n));
    at += n;
  }
  s.end();
  return out;
}

const view = (lines: SplitLine[]) =>
  lines.map((l) =>
    isBadLine(l) ? { lineNo: l.lineNo, reason: l.reason, raw: Buffer.from(l.raw).toString('hex') } : l,
  );

describe('LineSplitter', () => {
  it('numbers every line, skips blank ones, drops the CR of CRLF, keeps a last line without LF', () => {
    const lines = split(Buffer.from('a\r\n\n  \nb\nc'));
    expect(lines).toEqual([
      { lineNo: 1, text: 'a' },
      { lineNo: 4, text: 'b' },
      { lineNo: 5, text: 'c' },
    ]);
  });

  it('gives the same lines whatever the chunk boundaries (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('\n', '\r\n', 'é', '😀', '\u0000')), {
          maxLength: 30,
        }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 5 }),
        (parts, sizes) => {
          const input = Buffer.from(parts.join(''));
          expect(view(split(input, sizes, 16))).toEqual(view(split(input, [input.length || 1], 16)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('equals a line-by-line reference with the default limit, whatever the chunks (property)', () => {
    const reference = (input: Buffer) => {
      const out: unknown[] = [];
      let lineNo = 0;
      let start = 0;
      while (start < input.length) {
        let nl = input.indexOf(10, start);
        if (nl < 0) nl = input.length;
        lineNo += 1;
        let line = input.subarray(start, nl);
        if (line.at(-1) === 13) line = line.subarray(0, -1);
        const reason = byteProblem(line);
        if (reason) out.push({ lineNo, reason, raw: line.toString('hex') });
        else if (line.toString('utf8').trim() !== '') out.push({ lineNo, text: line.toString('utf8') });
        start = nl + 1;
      }
      return out;
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 20 }),
            fc.constantFrom('\n', '\r\n', '\r', 'é', '😀', '\u0000', ' '),
            fc.uint8Array({ maxLength: 3 }).map((b) => Buffer.from(b).toString('latin1')),
          ),
          { maxLength: 40 },
        ),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 5 }),
        (parts, sizes) => {
          // latin1 pieces become raw bytes: invalid UTF-8 among good text
          const input = Buffer.concat(
            parts.map((p) =>
              Buffer.from(p, [...p].every((c) => c.charCodeAt(0) <= 0xff) ? 'latin1' : 'utf8'),
            ),
          );
          expect(view(split(input, sizes))).toEqual(reference(input));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a NUL byte makes its line a reject with the byte offset; the next lines are judged', () => {
    const lines = split(Buffer.from('{"a":1}\nab\u0000c\nok\n'));
    expect(view(lines)).toEqual([
      { lineNo: 1, text: '{"a":1}' },
      { lineNo: 2, reason: 'contains a NUL byte (0x00) at byte offset 2 of the line', raw: '61620063' },
      { lineNo: 3, text: 'ok' },
    ]);
  });

  it('a line that is not valid UTF-8 is a reject with the offset and its raw bytes, never rewritten', () => {
    const input = Buffer.concat([
      Buffer.from('good\nx'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('y\nalso good'),
    ]);
    const lines = split(input, [3]);
    expect(view(lines)).toEqual([
      { lineNo: 1, text: 'good' },
      { lineNo: 2, reason: 'not valid UTF-8 at byte offset 1 of the line', raw: '78c32879' },
      { lineNo: 3, text: 'also good' },
    ]);
  });

  it('an over-long line is a reject holding its head only; the lines after it are judged', () => {
    const max = 1024 * 1024;
    const long = Buffer.alloc(40 * 1024 * 1024, 0x61);
    const input = Buffer.concat([Buffer.from('first\n'), long, Buffer.from('\nafter\n')]);
    const lines = split(input, [65_536]);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({ lineNo: 1, text: 'first' });
    const bad = lines[1];
    if (!bad || !isBadLine(bad)) throw new Error('line 2 should be a reject');
    expect(bad.lineNo).toBe(2);
    expect(bad.reason).toBe(
      `line too long: ${long.length} bytes, the limit is ${max} bytes (only the first ${KEPT_HEAD_BYTES} bytes are kept)`,
    );
    expect(bad.raw.length).toBe(KEPT_HEAD_BYTES);
    expect(lines[2]).toEqual({ lineNo: 3, text: 'after' });
  });

  it('a line of exactly the limit passes (its CR does not count); one byte more is a reject', () => {
    const ok = split(Buffer.from(`${'a'.repeat(10)}\r\n${'b'.repeat(11)}\n${'c'.repeat(11)}`), [4], 10);
    expect(ok.map((l) => (isBadLine(l) ? `bad ${l.lineNo}` : l.text))).toEqual([
      'a'.repeat(10),
      'bad 2',
      'bad 3',
    ]);
  });
});

describe('firstInvalidUtf8', () => {
  const fatal = new TextDecoder('utf-8', { fatal: true });
  const valid = (b: Uint8Array) => {
    try {
      fatal.decode(b);
      return true;
    } catch {
      return false;
    }
  };

  it.each([
    ['overlong NUL', [0x61, 0xc0, 0x80], 1],
    ['overlong 3-byte', [0xe0, 0x80, 0xaf], 0],
    ['UTF-16 surrogate', [0x61, 0x62, 0xed, 0xa0, 0x80], 2],
    ['above U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 0],
    ['cut short', [0x61, 0xe2, 0x82], 1],
    ['lone continuation', [0x80], 0],
    ['F5', [0x41, 0xf5, 0x80, 0x80, 0x80], 1],
    ['valid mixed', [0x61, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80], -1],
  ])('%s', (_name, bytes, offset) => {
    expect(firstInvalidUtf8(Uint8Array.from(bytes))).toBe(offset);
  });

  it('agrees with a fatal TextDecoder, and the bytes before the offset are valid (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 24 }), (bytes) => {
        const at = firstInvalidUtf8(bytes);
        expect(at === -1).toBe(valid(bytes));
        if (at >= 0) expect(valid(bytes.subarray(0, at))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (s) => {
        expect(firstInvalidUtf8(Buffer.from(s))).toBe(-1);
      }),
    );
  });
});
