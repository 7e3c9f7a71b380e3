import type { Queue } from 'bullmq';

/**
 * Which job of the bill queue holds each planned tenant-day: one Redis hash under the queue's
 * prefix (`<prefix>:bill:day-claims`, field `<tenant>/<day>`, value the job id). It does for the
 * days of a `bill-days` job what BullMQ's deduplication id did for a `bill-day` job of one day: a
 * plan does not queue a day again while the job holding it will still run it (waiting, delayed,
 * prioritized, active). A claim of a job that is over (completed, failed for good, removed) is
 * stale and counts as none; a job clears its own claims when it ends, and a plan overwrites stale
 * ones. A convenience like the deduplication id: the database (the day's lock and `onlyIfDue`)
 * is what keeps a day from being billed twice.
 */

/** What a job that still holds its days can be doing. */
const LIVE = new Set(['waiting', 'delayed', 'prioritized', 'active', 'waiting-children']);

export interface ClaimedDay {
  tenantId: string;
  day: string;
}

const field = (d: ClaimedDay) => `${d.tenantId}/${d.day}`;
const claimsKey = (bill: Queue) => bill.toKey('day-claims');

/** For each day, whether a job that will still run it holds it. */
export async function heldDays(bill: Queue, days: readonly ClaimedDay[]): Promise<boolean[]> {
  if (days.length === 0) return [];
  const redis = await bill.getBackend().client;
  const holders = await redis.hmget(claimsKey(bill), ...days.map(field));
  const live = new Map<string, boolean>();
  await Promise.all(
    [...new Set(holders.filter((h): h is string => h !== null))].map(async (id) => {
      live.set(id, LIVE.has(await bill.getJobState(id)));
    }),
  );
  return holders.map((h) => h !== null && live.get(h) === true);
}

/** Records `jobId` as the holder of `days` (before the job is added: a claim of a job never added is stale). */
export async function claimDays(bill: Queue, days: readonly ClaimedDay[], jobId: string): Promise<void> {
  if (days.length === 0) return;
  const redis = await bill.getBackend().client;
  await redis.hset(claimsKey(bill), Object.fromEntries(days.map((d) => [field(d), jobId])));
}

/** Clears the claims of `jobId` on `days`; a day another job claimed since keeps that claim. */
export async function releaseDays(bill: Queue, days: readonly ClaimedDay[], jobId: string): Promise<void> {
  if (days.length === 0) return;
  const redis = await bill.getBackend().client;
  const fields = days.map(field);
  const holders = await redis.hmget(claimsKey(bill), ...fields);
  const mine = fields.filter((_f, k) => holders[k] === jobId);
  if (mine.length > 0) await redis.hdel(claimsKey(bill), ...mine);
}
