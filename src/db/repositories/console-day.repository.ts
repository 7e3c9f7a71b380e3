import { sql } from 'kysely';
import type { AmountDiff } from '../../domain/adjustments.ts';
import { parseMinor } from '../../domain/money.ts';
import type { Db } from '../database.ts';
import type { StoredChargeLine } from './charge-line.repository.ts';

export interface LinePageQuery {
  runId: string;
  /** Only users whose id starts with this text (byte order, so the primary key serves it). */
  userPrefix?: string | undefined;
  /** Keyset: the lines after this (user, item), in (user, item) byte order. */
  after?: { userId: string; item: string } | undefined;
  limit: number;
}

/**
 * One page of a run's lines in (user, item) order, walking the primary key (run_id, user_id,
 * item) from the keyset position: the cost is the page, never the run (a run can hold a million
 * lines). Fetches `limit + 1` rows so the caller knows whether a next page exists.
 */
export async function pageRunLines(db: Db, q: LinePageQuery): Promise<StoredChargeLine[]> {
  const prefix = q.userPrefix ?? '';
  const like = `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
  const { rows } = await sql<{
    user_id: string;
    item: string;
    billing: string;
    amount: string;
    unit_price: string;
    price_book_id: string;
  }>`
    SELECT user_id, item, billing, amount::text, unit_price::text, price_book_id::text
    FROM charge_lines
    WHERE run_id = ${q.runId}::bigint
      ${prefix === '' ? sql`` : sql`AND user_id >= ${prefix} AND user_id LIKE ${like}`}
      ${q.after ? sql`AND (user_id, item) > (${q.after.userId}::text COLLATE "C", ${q.after.item}::text COLLATE "C")` : sql``}
    ORDER BY user_id, item
    LIMIT ${q.limit + 1}
  `.execute(db);
  return rows.map((r) => ({
    userId: r.user_id,
    item: r.item,
    billing: r.billing as StoredChargeLine['billing'],
    amount: parseMinor(r.amount),
    unitPrice: parseMinor(r.unit_price),
    priceBookId: r.price_book_id,
  }));
}

/** A (user, item) position in a run's primary-key order. */
export interface LineKey {
  userId: string;
  item: string;
}

export interface RunDiffPage {
  /** Differences in (user, item, billing) byte order: at least `limit` unless the scan stopped. */
  rows: AmountDiff[];
  /** Where the next page starts (keyset); null when every line of both runs was compared. */
  next: LineKey | null;
}

const keyAfter = (k: LineKey | undefined) =>
  k ? sql`AND (user_id, item) > (${k.userId}::text COLLATE "C", ${k.item}::text COLLATE "C")` : sql``;

/**
 * One page of the differences between runs `beforeRunId` and `afterRunId` of a day (the same
 * rows `diffRunLines` gives, in the same order), found by walking both runs' primary keys from
 * the keyset `after` in windows of `window` lines: each window is one bounded merge of the two
 * key ranges, so a page costs at most `maxWindows` x `window` lines per run, never the whole run.
 * Stops as soon as `limit` differences are found (the page then ends on a whole (user, item)), or
 * when the scan budget is spent: `next` then says where to go on.
 */
export async function pageRunDiff(
  db: Db,
  q: {
    beforeRunId: string;
    afterRunId: string;
    after?: LineKey | undefined;
    limit: number;
    window: number;
    maxWindows: number;
  },
): Promise<RunDiffPage> {
  const rows: AmountDiff[] = [];
  let after = q.after;
  for (let w = 0; w < q.maxWindows; w++) {
    // The window ends at the `window`-th key of either run after `after`, whichever comes first.
    const bounds = await sql<{ user_id: string; item: string }>`
      SELECT * FROM (
        (SELECT user_id, item FROM charge_lines WHERE run_id = ${q.beforeRunId}::bigint ${keyAfter(after)}
         ORDER BY user_id, item OFFSET ${q.window - 1} LIMIT 1)
        UNION ALL
        (SELECT user_id, item FROM charge_lines WHERE run_id = ${q.afterRunId}::bigint ${keyAfter(after)}
         ORDER BY user_id, item OFFSET ${q.window - 1} LIMIT 1)
      ) b ORDER BY user_id, item LIMIT 1
    `.execute(db);
    const upper = bounds.rows[0] ? { userId: bounds.rows[0].user_id, item: bounds.rows[0].item } : undefined;
    const until = upper
      ? sql`AND (user_id, item) <= (${upper.userId}::text COLLATE "C", ${upper.item}::text COLLATE "C")`
      : sql``;
    const found = await sql<{
      user_id: string;
      item: string;
      billing: StoredChargeLine['billing'];
      before: string;
      after: string;
    }>`
      WITH b AS (SELECT user_id, item, billing, amount FROM charge_lines
                 WHERE run_id = ${q.beforeRunId}::bigint ${keyAfter(after)} ${until}),
           a AS (SELECT user_id, item, billing, amount FROM charge_lines
                 WHERE run_id = ${q.afterRunId}::bigint ${keyAfter(after)} ${until})
      SELECT coalesce(b.user_id, a.user_id) AS user_id, coalesce(b.item, a.item) AS item,
             coalesce(b.billing, a.billing) AS billing,
             coalesce(b.amount, 0)::text AS before, coalesce(a.amount, 0)::text AS after
      FROM b FULL JOIN a ON a.user_id = b.user_id AND a.item = b.item AND a.billing = b.billing
      WHERE coalesce(b.amount, 0) <> coalesce(a.amount, 0)
      ORDER BY 1, 2, 3
    `.execute(db);
    for (const r of found.rows) {
      rows.push({
        userId: r.user_id,
        item: r.item,
        billing: r.billing,
        before: parseMinor(r.before),
        after: parseMinor(r.after),
      });
    }
    if (rows.length >= q.limit) {
      // End the page on a whole (user, item): a billing change gives two rows for one key.
      let end = q.limit;
      const last = rows[end - 1] as AmountDiff;
      while (end < rows.length && rows[end]?.userId === last.userId && rows[end]?.item === last.item) end++;
      const page = rows.slice(0, end);
      const more = end < rows.length || upper !== undefined;
      return { rows: page, next: more ? { userId: last.userId, item: last.item } : null };
    }
    if (upper === undefined) return { rows, next: null };
    after = upper;
  }
  return { rows, next: after ?? null };
}
