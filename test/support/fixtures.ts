import type { Db } from '../../src/db/database.ts';
import { DEMO_PRICE_BOOK } from '../../src/demo/demo-data.ts';

/**
 * The default price book of `docs/file-formats.md` (minor units) — the demo's own — as the
 * default book of most tests, with mutable copies of its price tables.
 */
export const CLI_PRICE_BOOK = {
  ...DEMO_PRICE_BOOK,
  tenantId: null as string | null,
  monthly: { ...DEMO_PRICE_BOOK.monthly } as Record<keyof typeof DEMO_PRICE_BOOK.monthly, number>,
  daily: { ...DEMO_PRICE_BOOK.daily } as Record<keyof typeof DEMO_PRICE_BOOK.daily, number>,
};

/**
 * The user ids of stored login events that hold U+FFFD: what a lone surrogate would leave
 * behind had it been rewritten instead of refused.
 */
export async function userIdsWithReplacementChar(db: Db): Promise<string[]> {
  const rows = await db
    .selectFrom('login_events')
    .select('user_id')
    .where('user_id', 'like', '%\ufffd%')
    .execute();
  return rows.map((r) => r.user_id);
}
