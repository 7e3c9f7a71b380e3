import { describe, expect, it } from 'vitest';
import { compareCodePoints, compareKeys } from '../../src/domain/code-point-order.ts';
import { itReturns } from '../support/table.ts';

describe('compareCodePoints', () => {
  itReturns('%j vs %j: %d', (a: string, b: string) => Math.sign(compareCodePoints(a, b)), [
    ['a', 'b', -1],
    ['b', 'a', 1],
    ['a', 'a', 0],
    ['', 'a', -1],
    ['ab', 'a', 1],
    ['Z', 'a', -1],
    ['é', 'z', 1],
    // U+FFFD < U+10000 by code point (and UTF-8 bytes), although UTF-16 units say the opposite
    ['\uFFFD', '\u{10000}', -1],
    ['x\u{1F600}', 'x\uFFFF', 1],
  ]);

  it('orders like UTF-8 bytes', () => {
    const words = ['\u{1F600}', '\uFFFF', 'a', 'Z', 'é', '', '\u{10000}x', 'ab'];
    const byBytes = [...words].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect([...words].sort(compareCodePoints)).toEqual(byBytes);
  });

  it('compareKeys compares element by element', () => {
    expect(compareKeys(['u1', 'license.standard'], ['u1', 'addon.recording'])).toBeGreaterThan(0);
    expect(compareKeys(['u1', 'x'], ['u2', 'a'])).toBeLessThan(0);
    expect(compareKeys(['u1', 'x'], ['u1', 'x'])).toBe(0);
  });
});
