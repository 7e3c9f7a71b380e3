import type { Minor } from './money.ts';

/** What started a run: the schedule, a catch-up, late data, a replay or an operator. */
export type RunTrigger = 'schedule' | 'catch-up' | 'late-data' | 'replay' | 'manual';

/**
 * The revision of a tenant-day: the highest revision of the day marks covering it, 0 when none
 * (a per-tenant counter, a non-negative safe integer). A run records the revision it read
 * before its data; a day whose revision is above that is due again.
 */
export type Revision = number;

/** One billing run of a tenant-day: a charge run (current or superseded) or an adjustment run. */
export interface Run {
  id: string;
  tenantId: string;
  day: string;
  kind: 'charge' | 'adjustment';
  trigger: RunTrigger;
  isCurrent: boolean;
  /** The day revision this run read before its data. */
  inputRevision: Revision;
  startedAt: Date;
  finishedAt: Date;
  lineCount: number;
  /** Minor units of `currency`. */
  total: Minor;
  currency: string;
  supersededAt: Date | null;
  jobId: string | null;
}
