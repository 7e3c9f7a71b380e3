// A month's days as bits: bit d-1 set for day d (1..31), as the invoice month rows keep them.

/** The runs of consecutive days [first, last] of a mask, in order. */
export function runsOfDays(mask: number): [number, number][] {
  const runs: [number, number][] = [];
  for (let d = 1; d <= 31; d++) {
    if ((mask & (2 ** (d - 1))) === 0) continue;
    const last = runs[runs.length - 1];
    if (last !== undefined && last[1] === d - 1) last[1] = d;
    else runs.push([d, d]);
  }
  return runs;
}

/** How many days a mask holds. */
export function daysIn(mask: number): number {
  return runsOfDays(mask).reduce((n, [a, b]) => n + b - a + 1, 0);
}
