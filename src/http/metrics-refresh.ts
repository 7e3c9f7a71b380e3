import type { Logger } from '../logger.ts';
import { metricsRefreshedAt, metricsRefreshes } from '../metrics.ts';

/** Something that sets gauges from the database or Redis (queue counts, billing lag). */
export type MetricsRefresher = { name: string; refresh: () => Promise<void> };

export interface MetricsRefreshLoop {
  /** Runs a turn now (after the one in flight) and resolves when it is done or timed out. */
  refreshNow(): Promise<void>;
  /** Stops the timer; waits up to `graceMs` for refreshes in flight. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Refreshes the gauges on a timer, never per scrape: `/metrics` serves the values of the last
 * refresh, so any number of scrapes costs no query. Runs every refresher at start, then every
 * `intervalMs`. A refresher still running when its next turn comes (a slow lag query, Redis
 * away) is skipped for that turn, so it never overlaps itself; one that takes longer than
 * `timeoutMs` (default: the interval) is reported as failed at once, and is still not started
 * again before it has settled. A gauge that is not refreshed keeps its last value. Each
 * outcome is counted in `billing_metrics_refreshes_total{metric,outcome}`.
 */
export function startMetricsRefresh(
  refreshers: readonly MetricsRefresher[],
  options: { intervalMs: number; logger: Logger; timeoutMs?: number },
): MetricsRefreshLoop {
  const { logger } = options;
  const timeoutMs = options.timeoutMs ?? options.intervalMs;
  /** Per refresher: a promise that settles when its run settles or times out (never rejects). */
  const inFlight = new Map<string, Promise<void>>();
  const busy = new Set<string>();

  const run = (refresher: MetricsRefresher): Promise<void> => {
    const metric = refresher.name;
    if (busy.has(metric)) {
      metricsRefreshes.inc({ metric, outcome: 'skipped' });
      logger.warn({ metric }, 'metric refresh still running: skipped this turn');
      return inFlight.get(metric) ?? Promise.resolve();
    }
    busy.add(metric);
    const started = refresher.refresh().finally(() => busy.delete(metric));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    const bounded = Promise.race([started, timeout]).then(
      () => {
        metricsRefreshes.inc({ metric, outcome: 'ok' });
        metricsRefreshedAt.set({ metric }, Date.now() / 1000);
      },
      (error: unknown) => {
        metricsRefreshes.inc({ metric, outcome: 'failed' });
        logger.warn({ err: error, metric }, 'metric not refreshed: it keeps its last value');
      },
    );
    const settled = bounded.finally(() => {
      clearTimeout(timer);
      inFlight.delete(metric);
    });
    inFlight.set(metric, settled);
    return settled;
  };
  const turn = () => Promise.all(refreshers.map(run)).then(() => {});

  // `run` catches every error: these promises always resolve.
  let last = turn();
  const timer = setInterval(() => {
    last = turn();
  }, options.intervalMs);
  timer.unref();
  return {
    async refreshNow() {
      await Promise.all([...inFlight.values()]);
      await turn();
    },
    async stop(graceMs = 2_000) {
      clearInterval(timer);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([last, ...inFlight.values()]),
        new Promise<void>((resolve) => {
          wait = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(wait);
    },
  };
}
