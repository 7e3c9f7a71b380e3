/**
 * Compares strings by Unicode code point, which is also the order of their UTF-8 bytes and of
 * Postgres `COLLATE "C"`. JavaScript's `<` compares UTF-16 units instead and puts characters
 * above U+FFFF (surrogate pairs) before U+E000–U+FFFF; this does not.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const x = a[Symbol.iterator]();
  const y = b[Symbol.iterator]();
  for (;;) {
    const p = x.next();
    const q = y.next();
    if (p.done) return q.done ? 0 : -1;
    if (q.done) return 1;
    const cp = p.value.codePointAt(0) as number;
    const cq = q.value.codePointAt(0) as number;
    if (cp !== cq) return cp < cq ? -1 : 1;
  }
}

/** Compares tuples of strings element by element with `compareCodePoints`. */
export function compareKeys(a: readonly string[], b: readonly string[]): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const c = compareCodePoints(a[i] as string, b[i] as string);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
