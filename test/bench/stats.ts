/** The median of `xs` (the mean of the two middle values for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const half = sorted.length / 2;
  return ((sorted[Math.ceil(half) - 1] as number) + (sorted[Math.floor(half)] as number)) / 2;
}

/**
 * Waits for a psql session's backend to be reaped after psql returns: until the postmaster has
 * reaped it, its CPU is in no /proc figure a server-CPU reader adds up (an exited backend is
 * neither a live child nor in the postmaster's cutime yet).
 */
export const settled = () => new Promise((resolve) => setTimeout(resolve, 300));
