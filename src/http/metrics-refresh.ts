import type { Logger } from '../logger.ts';

/** Something that sets gauges before a scrape (queue counts, billing lag). */
export type MetricsRefresher = { name: string; refresh: () => Promise<void> };

/**
 * Runs every refresher in parallel, each bounded by `timeoutMs`: a slow or absent Redis or
 * database never hangs a scrape; the gauge then keeps its last value and a warning is logged.
 */
export async function refreshMetrics(
  refreshers: readonly MetricsRefresher[],
  logger: Logger,
  timeoutMs = 2_000,
): Promise<void> {
  await Promise.all(
    refreshers.map(async ({ name, refresh }) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await Promise.race([refresh(), timeout]);
      } catch (error) {
        logger.warn({ err: error, metric: name }, 'metric not refreshed for this scrape');
      } finally {
        clearTimeout(timer);
      }
    }),
  );
}
