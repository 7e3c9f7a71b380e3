import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNight } from '../../src/billing/night-context.ts';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import { tenantFirstDay } from '../../src/billing/tenant-first-day.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { listPriceBooksFor } from '../../src/db/repositories/price-book.repository.ts';
import { listTenants } from '../../src/db/repositories/tenant.repository.ts';
import { priceBookInForce } from '../../src/domain/price-book.ts';
import { BACKENDS } from '../support/backends.ts';
import { addVersions, BOOK, seedTenant } from './bill-day-fixtures.ts';

describe.each(BACKENDS)('the night context on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    const db = conn.db;
    await seedTenant(db, { id: 'own', timezone: 'Asia/Tokyo' });
    await seedTenant(db, { id: 'dflt', timezone: 'America/New_York', book: null });
    await seedTenant(db, { id: 'empty', book: null });
    await loadPriceBook(db, { currency: 'EUR', validFrom: '2026-01-01', tenantId: null, ...BOOK }, 'test');
    await loadPriceBook(db, { currency: 'EUR', validFrom: '2026-11-15', tenantId: null, ...BOOK }, 'test');
    await loadPriceBook(db, { currency: 'EUR', validFrom: '2026-11-05', tenantId: 'own', ...BOOK }, 'test');
    // 2026-10-31T16:00Z is 1 November in Tokyo and 31 October in New York.
    await addVersions(db, 'own', [{ userId: 'a', at: '2026-10-31T16:00:00Z', license: 'standard' }]);
    await addVersions(db, 'dflt', [
      { userId: 'b', at: '2026-11-20T10:00:00Z', license: 'standard' },
      { userId: 'c', at: '2026-10-31T16:00:00Z', license: 'standard', active: false },
    ]);
  });
  afterAll(async () => conn?.close());

  it('gives each tenant the first day and the book in force that billDay would read itself', async () => {
    const tenants = await listTenants(conn.db);
    const night = await loadNight(conn.db, tenants);
    expect([...night.keys()]).toEqual(['dflt', 'empty', 'own']);
    expect(night.get('own')?.firstDay).toBe('2026-11-01');
    expect(night.get('dflt')?.firstDay).toBe('2026-10-31');
    expect(night.get('empty')?.firstDay).toBeUndefined();
    for (const tenant of tenants) {
      const known = night.get(tenant.id);
      expect(known?.tenant).toEqual(tenant);
      expect(known?.firstDay).toBe(await tenantFirstDay(conn.db, tenant));
      const stored = await listPriceBooksFor(conn.db, tenant.id);
      for (const day of [
        '2025-12-31',
        '2026-11-04',
        '2026-11-05',
        '2026-11-14',
        '2026-11-15',
        '2027-01-01',
      ]) {
        expect(priceBookInForce(known?.priceBooks ?? [], tenant.id, day)?.id).toBe(
          priceBookInForce(stored, tenant.id, day)?.id,
        );
      }
    }
  });
});
