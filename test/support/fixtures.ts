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
