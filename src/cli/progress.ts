import { createRequire } from 'node:module';

/** A progress bar on stderr, or a stand-in that draws nothing. */
export interface Progress {
  /** Sets the value (and optionally the text after the bar). */
  update(value: number, detail?: string): void;
  /** Adds `by` (default 1) to the value. */
  increment(by?: number, detail?: string): void;
  /** Changes the total (e.g. once it is known). */
  setTotal(total: number): void;
  /** Erases nothing: leaves the final bar on its line and moves to the next. Idempotent. */
  stop(): void;
}

const NONE: Progress = { update() {}, increment() {}, setTotal() {}, stop() {} };

// cli-progress is CommonJS and needed only on a terminal: required on first use.
const require = createRequire(import.meta.url);

/**
 * Starts a bar labelled `label` counting `unit`s up to `total` (0 = unknown: a counter without a
 * bar) when `show` is true, else returns a Progress that does nothing. Bars go to stderr, so
 * stdout keeps only results.
 */
export function startProgress(show: boolean, label: string, total: number, unit: string): Progress {
  if (!show) return NONE;
  const { SingleBar } = require('cli-progress') as typeof import('cli-progress');
  const known = total > 0;
  const bar = new SingleBar({
    stream: process.stderr,
    format: known
      ? `${label.padEnd(8)} [{bar}] {value}/{total} ${unit} {detail}`
      : `${label.padEnd(8)} {value} ${unit} {detail}`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    // Redraw at most ~10 times a second: a bar must not cost the work it reports on.
    fps: 10,
  });
  bar.start(total, 0, { detail: '' });
  let stopped = false;
  return {
    update: (value, detail) => bar.update(value, detail === undefined ? undefined : { detail }),
    increment: (by = 1, detail) => bar.increment(by, detail === undefined ? undefined : { detail }),
    setTotal: (t) => bar.setTotal(t),
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
