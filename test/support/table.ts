import { expect, it } from 'vitest';

/**
 * A table test: one `it` per case, a case being the arguments of `fn` followed by what `fn`
 * returns for them. Results are compared with `toEqual`, which, like `toBe`, tells -0 from 0.
 * `title` is an `it.each` title: `%s`, `%d`, `%j` take the cells of the case in order.
 */
export function itReturns<A extends unknown[], R>(
  title: string,
  fn: (...args: A) => R,
  cases: ReadonlyArray<[...A, R]>,
): void {
  it.each(cases as unknown as unknown[][])(title, (...cells) => {
    expect(fn(...(cells.slice(0, -1) as A))).toEqual(cells.at(-1));
  });
}
