import type { Logger } from '../logger.ts';
import { metricsRefreshedAt, metricsRefreshes } from '../metrics.ts';

/** Something that sets gauges from the database or Redis (queue counts, billing lag). */
export type MetricsRefresher = { name: string; refresh: () => Promise<void> };

export interface MetricsRefreshLoop {
  /** Runs every refresher now (after any run still in flight) and resolves when they are done. */
  refreshNow(): Promise<void>;
  /** Stops the timer; waits up to `graceMs` for refreshes in flight. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Refreshes the gauges on a timer, never per scrape: `/metrics` serves the values of the last
 * refresh, so any number of scrapes costs no query. Runs every refresher at start, then every
 * `intervalMs`. A refresher still running when its next turn comes (a slow lag query, Redis
 * away) is skipped for that turn, so it never overlaps itself; the gauge keeps its last value.
 * Each run is counted in `billing_metrics_refreshes_total{metric,outcome}`.
 */
export function startMetricsRefresh(
  refreshers: readonly MetricsRefresher[],
  options: { intervalMs: number; logger: Logger },
): MetricsRefreshLoop {
  const { logger } = options;
  const running = new Map<string, Promise<void>>();
  const run = (refresher: MetricsRefresher): Promise<void> => {
    const inFlight = running.get(refresher.name);
    if (inFlight) {
      metricsRefreshes.inc({ metric: refresher.name, outcome: 'skipped' });
      logger.warn({ metric: refresher.name }, 'metric refresh still running: skipped this turn');
      return inFlight;
    }
    const started = (async () => {
      try {
        await refresher.refresh();
        metricsRefreshes.inc({ metric: refresher.name, outcome: 'ok' });
        metricsRefreshedAt.set({ metric: refresher.name }, Date.now() / 1000);
      } catch (error) {
        metricsRefreshes.inc({ metric: refresher.name, outcome: 'failed' });
        logger.warn({ err: error, metric: refresher.name }, 'metric not refreshed: it keeps its last value');
      } finally {
        running.delete(refresher.name);
      }
    })();
    running.set(refresher.name, started);
    return started;
  };
  const turn = () => Promise.all(refreshers.map(run)).then(() => {});
  // Errors are caught inside `run`: these promises always resolve.
  let last = turn();
  const timer = setInterval(() => {
    last = turn();
  }, options.intervalMs);
  timer.unref();
  return {
    async refreshNow() {
      await Promise.all([...running.values()]);
      await turn();
    },
    async stop(graceMs = 2_000) {
      clearInterval(timer);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([last, ...running.values()]),
        new Promise<void>((resolve) => {
          wait = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(wait);
    },
  };
}
