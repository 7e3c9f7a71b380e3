import type { Db } from '../db/database.ts';
import { insertPriceBook } from '../db/repositories/price-book.repository.ts';
import { findTenant } from '../db/repositories/tenant.repository.ts';
import {
  DAILY_PRICE_ITEMS,
  InvalidPriceBookError,
  MONTHLY_PRICE_ITEMS,
  type PriceBook,
  parsePriceBookFile,
} from '../domain/price-book.ts';
import { ConflictError, InputError } from '../errors.ts';

/**
 * Loads one price book version. Versions are immutable like settings versions: loading the same
 * book again is a no-op; another book with the same (tenant, validFrom) is refused.
 */
export async function loadPriceBook(
  db: Db,
  input: unknown,
  source: string,
): Promise<{ inserted: boolean; book: PriceBook }> {
  let file: ReturnType<typeof parsePriceBookFile>;
  try {
    file = parsePriceBookFile(input);
  } catch (error) {
    if (error instanceof InvalidPriceBookError) throw new InputError(`${source}: ${error.message}`);
    throw error;
  }
  if (file.tenantId !== null) {
    const tenant = await findTenant(db, file.tenantId);
    if (!tenant) throw new InputError(`${source}: tenantId: unknown tenant "${file.tenantId}"`);
    if (tenant.currency !== file.currency) {
      throw new InputError(
        `${source}: currency: ${file.currency} does not match tenant "${tenant.id}" currency ${tenant.currency}`,
      );
    }
  }
  const result = await insertPriceBook(db, file);
  if (!result.inserted && !samePrices(result.book, file)) {
    throw new ConflictError(
      `${source}: a different price book for ${file.tenantId ? `tenant "${file.tenantId}"` : 'the default'} valid from ${file.validFrom} already exists (id ${result.book.id}); price book versions are never changed: load one with a later validFrom`,
    );
  }
  return result;
}

function samePrices(a: PriceBook, b: Omit<PriceBook, 'id'>): boolean {
  return (
    a.currency === b.currency &&
    MONTHLY_PRICE_ITEMS.every((item) => a.monthly[item] === b.monthly[item]) &&
    DAILY_PRICE_ITEMS.every((item) => a.daily[item] === b.daily[item])
  );
}
