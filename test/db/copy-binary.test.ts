import { describe, expect, it } from 'vitest';
import { CopyBinaryReader } from '../../src/db/copy-binary.ts';

/** A binary COPY stream as PostgreSQL writes it, of tuples of text fields (null: SQL NULL). */
function copyStream(tuples: (string | null)[][]): Buffer {
  const parts: Buffer[] = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)];
  for (const t of tuples) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(t.length);
    parts.push(count);
    for (const f of t) {
      const len = Buffer.alloc(4);
      if (f === null) {
        len.writeInt32BE(-1);
        parts.push(len);
      } else {
        const bytes = Buffer.from(f, 'utf8');
        len.writeInt32BE(bytes.length);
        parts.push(len, bytes);
      }
    }
  }
  const end = Buffer.alloc(2);
  end.writeInt16BE(-1);
  parts.push(end);
  return Buffer.concat(parts);
}

const TUPLES = [
  ['2026-11,acme,"a,b",x\r\n', 'EUR'],
  ['', null],
  ['ž\u{1F600}"quoted"\r\n', 'KWD'],
];

function read(chunks: Buffer[]): (string | null)[][] {
  const reader = new CopyBinaryReader();
  const out: (string | null)[][] = [];
  for (const c of chunks)
    reader.push(c, (fields) => out.push(fields.map((f) => (f === null ? null : f.toString('utf8')))));
  reader.end();
  return out;
}

describe('CopyBinaryReader', () => {
  it('reads every tuple exactly, whatever the chunk boundaries (down to one byte)', () => {
    const stream = copyStream(TUPLES);
    expect(read([stream])).toEqual(TUPLES);
    for (const size of [1, 2, 3, 5, 7, 13]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
      expect(read(chunks)).toEqual(TUPLES);
    }
  });

  it('refuses a stream that is not binary COPY, and one that ends inside a tuple', () => {
    expect(() => read([Buffer.from('id,name\r\n1,2\r\n0123456789')])).toThrow(/not a binary COPY stream/);
    const stream = copyStream(TUPLES);
    expect(() => read([stream.subarray(0, stream.length - 5)])).toThrow(/ended early/);
  });
});
