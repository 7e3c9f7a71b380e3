import { sql } from 'kysely';
import type { AmountDiff } from '../../domain/adjustments.ts';
import { parseMinor } from '../../domain/money.ts';
import type { Db } from '../database.ts';
import {
  type ChargeLineSqlRow,
  chargeLineColumns,
  chargeOfLine,
  type StoredChargeLine,
} from './charge-line.repository.ts';

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
  const { rows } = await sql<ChargeLineSqlRow>`
    SELECT ${chargeLineColumns}
    FROM charge_lines
    WHERE run_id = ${q.runId}::bigint
      ${prefix === '' ? sql`` : sql`AND user_id >= ${prefix} AND user_id LIKE ${like}`}
      ${q.after ? sql`AND (user_id, item) > (${q.after.userId}::text COLLATE "C", ${q.after.item}::text COLLATE "C")` : sql``}
    ORDER BY user_id, item
    LIMIT ${q.limit + 1}
  `.execute(db);
  return rows.map((r) => ({ userId: r.user_id, ...chargeOfLine(r) }));
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
 * rows `diffRunLines` gives, in the same order), from the keyset `after` on, comparing at most
 * `budget` lines of each run. Two statements: the bound (the `budget`-th key of either run after
 * `after`, whichever comes first: an index-only walk of the primary key), then ONE merge of both
 * runs' primary-key ranges up to it, joined by (user, item), keeping the keys whose lines differ,
 * at most `limit + 1` of them. A page costs O(budget) whatever the runs' size or where it starts;
 * it holds at least `limit` rows (a billing change gives two rows for one key: a page ends on a
 * whole key) unless the bound or the end came first; `next` says where to go on.
 */
export async function pageRunDiff(
  db: Db,
  q: {
    beforeRunId: string;
    afterRunId: string;
    after?: LineKey | undefined;
    limit: number;
    budget: number;
  },
): Promise<RunDiffPage> {
  const bounds = await sql<{ user_id: string; item: string }>`
    SELECT * FROM (
      (SELECT user_id, item FROM charge_lines WHERE run_id = ${q.beforeRunId}::bigint ${keyAfter(q.after)}
       ORDER BY user_id, item OFFSET ${q.budget - 1} LIMIT 1)
      UNION ALL
      (SELECT user_id, item FROM charge_lines WHERE run_id = ${q.afterRunId}::bigint ${keyAfter(q.after)}
       ORDER BY user_id, item OFFSET ${q.budget - 1} LIMIT 1)
    ) b ORDER BY user_id, item LIMIT 1
  `.execute(db);
  const upper = bounds.rows[0] ? { userId: bounds.rows[0].user_id, item: bounds.rows[0].item } : undefined;
  const until = upper
    ? sql`AND (user_id, item) <= (${upper.userId}::text COLLATE "C", ${upper.item}::text COLLATE "C")`
    : sql``;
  const { rows: pairs } = await sql<{
    user_id: string;
    item: string;
    b_billing: StoredChargeLine['billing'] | null;
    b_amount: string | null;
    a_billing: StoredChargeLine['billing'] | null;
    a_amount: string | null;
  }>`
    SELECT coalesce(b.user_id, a.user_id) AS user_id, coalesce(b.item, a.item) AS item,
           b.billing AS b_billing, b.amount::text AS b_amount, a.billing AS a_billing, a.amount::text AS a_amount
    FROM (SELECT user_id, item, billing, amount FROM charge_lines
          WHERE run_id = ${q.beforeRunId}::bigint ${keyAfter(q.after)} ${until}) b
    FULL JOIN (SELECT user_id, item, billing, amount FROM charge_lines
               WHERE run_id = ${q.afterRunId}::bigint ${keyAfter(q.after)} ${until}) a
      ON a.user_id = b.user_id AND a.item = b.item
    WHERE CASE WHEN b.billing <> a.billing THEN b.amount <> 0 OR a.amount <> 0
               ELSE coalesce(b.amount, 0) <> coalesce(a.amount, 0) END
    ORDER BY 1, 2
    LIMIT ${q.limit + 1}
  `.execute(db);
  const rows: AmountDiff[] = [];
  let taken = 0;
  for (const p of pairs) {
    if (rows.length >= q.limit) break;
    taken += 1;
    const b = p.b_amount === null ? 0 : parseMinor(p.b_amount);
    const a = p.a_amount === null ? 0 : parseMinor(p.a_amount);
    if (p.b_billing !== null && p.a_billing !== null && p.b_billing !== p.a_billing) {
      // The same (user, item) under another billing mode: one row per (user, item, billing).
      const sides = [
        { billing: p.b_billing, before: b, after: 0 },
        { billing: p.a_billing, before: 0, after: a },
      ].sort((x, y) => (x.billing < y.billing ? -1 : 1));
      for (const side of sides)
        if (side.before !== side.after) rows.push({ userId: p.user_id, item: p.item, ...side });
    } else {
      rows.push({
        userId: p.user_id,
        item: p.item,
        billing: (p.b_billing ?? p.a_billing) as AmountDiff['billing'],
        before: b,
        after: a,
      });
    }
  }
  const last = pairs[taken - 1];
  if (taken < pairs.length && last) return { rows, next: { userId: last.user_id, item: last.item } };
  return { rows, next: upper ?? null };
}
