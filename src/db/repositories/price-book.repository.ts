import type { Selectable } from 'kysely';
import { parseMinor } from '../../domain/money.ts';
import type { PriceBook } from '../../domain/price-book.ts';
import type { Db, PriceBooksTable } from '../database.ts';

function rowToPriceBook(r: Selectable<PriceBooksTable>): PriceBook {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    currency: r.currency,
    validFrom: r.valid_from,
    monthly: {
      dashboard: parseMinor(r.monthly_dashboard),
      standard: parseMinor(r.monthly_standard),
      professional: parseMinor(r.monthly_professional),
      enterprise: parseMinor(r.monthly_enterprise),
      developer: parseMinor(r.monthly_developer),
      recording: parseMinor(r.monthly_recording),
    },
    daily: {
      professional: parseMinor(r.daily_professional),
      enterprise: parseMinor(r.daily_enterprise),
      recording: parseMinor(r.daily_recording),
    },
  };
}

/** Inserts a price book version unless one with the same (tenant, validFrom) exists; returns the stored one. */
export async function insertPriceBook(
  db: Db,
  book: Omit<PriceBook, 'id'>,
): Promise<{ inserted: boolean; book: PriceBook }> {
  const inserted = await db
    .insertInto('price_books')
    .values({
      tenant_id: book.tenantId,
      currency: book.currency,
      valid_from: book.validFrom,
      monthly_dashboard: book.monthly.dashboard,
      monthly_standard: book.monthly.standard,
      monthly_professional: book.monthly.professional,
      monthly_enterprise: book.monthly.enterprise,
      monthly_developer: book.monthly.developer,
      monthly_recording: book.monthly.recording,
      daily_professional: book.daily.professional,
      daily_enterprise: book.daily.enterprise,
      daily_recording: book.daily.recording,
    })
    .onConflict((oc) => oc.columns(['tenant_id', 'valid_from']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { inserted: true, book: rowToPriceBook(inserted) };
  let query = db.selectFrom('price_books').selectAll().where('valid_from', '=', book.validFrom);
  query =
    book.tenantId === null
      ? query.where('tenant_id', 'is', null)
      : query.where('tenant_id', '=', book.tenantId);
  const existing = await query.executeTakeFirstOrThrow();
  return { inserted: false, book: rowToPriceBook(existing) };
}

/** Every price book a tenant can use: its own versions and the default ones. */
export async function listPriceBooksFor(db: Db, tenantId: string): Promise<PriceBook[]> {
  const rows = await db
    .selectFrom('price_books')
    .selectAll()
    .where((eb) => eb.or([eb('tenant_id', '=', tenantId), eb('tenant_id', 'is', null)]))
    .orderBy('valid_from')
    .execute();
  return rows.map(rowToPriceBook);
}

/** Every price book of every tenant and the default ones, oldest first: what a night of many tenants reads once. */
export async function listAllPriceBooks(db: Db): Promise<PriceBook[]> {
  const rows = await db.selectFrom('price_books').selectAll().orderBy('valid_from').orderBy('id').execute();
  return rows.map(rowToPriceBook);
}
