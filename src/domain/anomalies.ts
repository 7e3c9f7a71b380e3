import type { Day } from './calendar.ts';
import { formatMinor, type Minor } from './money.ts';

/** Stable anomaly codes of reconciliation (docs/insight.md). */
export const ANOMALY_CODES = ['total-jump', 'activity-drop', 'overdue', 'open-rejects'] as const;
export type AnomalyCode = (typeof ANOMALY_CODES)[number];

export interface Anomaly {
  code: AnomalyCode;
  message: string;
}

/**
 * billed: current run at the latest revision; stale: revision ahead of the run; missing: due,
 * no run; failed: the last attempt failed; pending: not due yet (before the cut-off).
 */
export type DayStatus = 'billed' | 'stale' | 'missing' | 'failed' | 'pending';

/** What the rules need of one tenant-day. */
export interface DayFacts {
  day: Day;
  status: DayStatus;
  /** The current run's total (minor units); null when the day has no current run. */
  total: Minor | null;
  activeUsers: number;
  rejectsOpen: number;
}

export interface AnomalyOptions {
  /** Relative difference from the median that is a jump (default 0.3 = 30 %). */
  jump: number;
  /** For the messages. */
  currency: string;
}

/** How many earlier days (billed days for totals, calendar days for activity) a rule looks at. */
export const ANOMALY_WINDOW = 7;

/** Median of an odd-length list of amounts (the window is 7). */
function median(values: readonly Minor[]): Minor {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as Minor;
}

/**
 * The anomalies of each day of `days` (consecutive calendar days of one tenant, oldest first;
 * the caller includes at least 7 days before the first day it reports, so that the first
 * reported day has a history). Result: one list per input day, same order.
 *
 * - `total-jump`: the day has a current run and its total differs from the median of the totals
 *   of the previous 7 days that have a current run by more than `jump` x median, either way (a
 *   median of 0 and a total above 0 is a jump). Fewer than 7 such days before it: no judgement.
 * - `activity-drop`: zero active users on a day that is no longer pending, when each of the 7
 *   calendar days before it had some.
 * - `overdue`: status missing, stale or failed (each implies the day is past its cut-off).
 * - `open-rejects`: rejects attributed to the day are still open.
 * Example: previous totals 100,100,100,100,100,100,100 and a total of 131: jump (+31 %); 130: none.
 */
export function detectAnomalies(days: readonly DayFacts[], options: AnomalyOptions): Anomaly[][] {
  const money = (a: Minor) => `${formatMinor(a, options.currency)} ${options.currency}`;
  const billedBefore: Minor[] = [];
  return days.map((d, i) => {
    const found: Anomaly[] = [];
    if (d.total !== null) {
      const window = billedBefore.slice(-ANOMALY_WINDOW);
      if (window.length === ANOMALY_WINDOW) {
        const m = median(window);
        const diff = Math.abs(d.total - m);
        if (diff > options.jump * m) {
          const pct =
            m === 0 ? 'from nothing' : `${d.total > m ? '+' : '-'}${Math.round((diff / m) * 100)} %`;
          found.push({
            code: 'total-jump',
            message: `total ${money(d.total)} differs from the median ${money(m)} of the previous ${ANOMALY_WINDOW} billed days (${pct}, threshold ${Math.round(options.jump * 100)} %)`,
          });
        }
      }
      billedBefore.push(d.total);
    }
    const previous = days.slice(Math.max(0, i - ANOMALY_WINDOW), i);
    if (
      d.status !== 'pending' &&
      d.activeUsers === 0 &&
      previous.length === ANOMALY_WINDOW &&
      previous.every((p) => p.activeUsers > 0)
    ) {
      found.push({
        code: 'activity-drop',
        message: `no active user, after ${ANOMALY_WINDOW} days with activity (${previous.map((p) => p.activeUsers).join(', ')})`,
      });
    }
    if (d.status === 'missing' || d.status === 'stale' || d.status === 'failed') {
      const what =
        d.status === 'missing'
          ? 'has no run'
          : d.status === 'stale'
            ? 'has input newer than its run'
            : 'failed at its last attempt';
      found.push({ code: 'overdue', message: `past its cut-off and ${what}` });
    }
    if (d.rejectsOpen > 0) {
      found.push({
        code: 'open-rejects',
        message: `${d.rejectsOpen} rejected event${d.rejectsOpen === 1 ? '' : 's'} of this day still open`,
      });
    }
    return found;
  });
}
