import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InstantText } from '../../src/db/repositories/login-event-copy.repository.ts';

describe('InstantText (the COPY text of an instant)', () => {
  it('renders what toISOString renders, for every instant the validator lets through', () => {
    const text = new InstantText();
    const from = Date.UTC(2000, 0, 1);
    const to = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
    fc.assert(
      fc.property(fc.integer({ min: from, max: to }), (ms) => {
        expect(text.of(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
    for (const ms of [from, to, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2026, 9, 25, 0, 0, 0, 1)])
      expect(text.of(ms)).toBe(new Date(ms).toISOString());
  });
});
