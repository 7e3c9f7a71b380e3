import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HeldTexts } from '../../src/ingest/held-texts.ts';

describe('HeldTexts', () => {
  it('gives back every text it holds, by index, across growth', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 300 }), { maxLength: 200 }), (texts) => {
        // A small start so that most runs grow the buffer several times.
        const held = new HeldTexts(16);
        const at = texts.map((t) => held.add(t));
        expect(at).toEqual(texts.map((_, i) => i));
        expect(at.map((i) => held.text(i))).toEqual(texts);
      }),
    );
  });

  it('holds non-ASCII lines and empty ones exactly, and names an index it does not hold', () => {
    const held = new HeldTexts(4);
    const lines = ['{"lastName":"Nováková"}', '', 'Łukasz 🦊 "quoted" \\ back', 'x'.repeat(10_000)];
    for (const l of lines) held.add(l);
    expect(lines.map((_, i) => held.text(i))).toEqual(lines);
    expect(() => held.text(4)).toThrow('no text held at 4');
  });
});
