import { sql } from 'kysely';
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
