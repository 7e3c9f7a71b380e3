/** Seeding helpers shared by the bill-day, replay and close tests (real database, real services). */

import { sql } from 'kysely';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import type { Db } from '../../src/db/database.ts';
import { bumpDayRevisions } from '../../src/db/repositories/day-revision.repository.ts';
import type { SettingsVersion } from '../../src/domain/settings-version.ts';
import { parseSettingsVersionLine, storeSettingsVersions } from '../../src/ingest/settings-import.service.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';

/** Settings that resolve to each license (`docs/licensing.md`). */
export const LICENSE_SETTINGS = {
  dashboard: { permissions: ['dashboard'] },
  standard: { permissions: ['communication'] },
  professional: { permissions: ['communication', 'statistics'] },
  enterprise: { permissions: ['workspace'] },
  developer: { permissions: ['api'] },
} as const;

export type LicenseName = keyof typeof LICENSE_SETTINGS;

export const BOOK = { monthly: CLI_PRICE_BOOK.monthly, daily: CLI_PRICE_BOOK.daily };

export interface VersionSpec {
  userId: string;
  at: string;
  license: LicenseName;
  billing?: 'monthly' | 'daily';
  recordCalls?: boolean;
  active?: boolean;
}

export async function seedTenant(
  db: Db,
  t: { id: string; timezone?: string; currency?: string; cutoffHour?: number; book?: typeof BOOK | null },
): Promise<void> {
  const currency = t.currency ?? 'EUR';
  await addTenant(db, {
    id: t.id,
    name: t.id,
    timezone: t.timezone ?? 'Europe/Prague',
    currency,
    cutoffHour: t.cutoffHour ?? 2,
  });
  if (t.book !== null) {
    await loadPriceBook(
      db,
      { currency, validFrom: '2000-01-01', tenantId: t.id, ...(t.book ?? BOOK) },
      'test',
    );
  }
}

/** The usual start of a billing test: tenant acme (Prague, EUR, the default book) and its users' versions. */
export async function seedAcme(db: Db, versions: readonly VersionSpec[]): Promise<void> {
  await seedTenant(db, { id: 'acme' });
  await addVersions(db, 'acme', versions);
}

/**
 * The settings version `s` describes, read by the real line parser (defaults: active, monthly,
 * no call recording; `more` adds contact fields); throws with the parser's reason when it refuses.
 */
export function parseVersionSpec(
  tenantId: string,
  s: VersionSpec,
  more: { email?: string; lastName?: string } = {},
) {
  const parsed = parseSettingsVersionLine({
    tenantId,
    userId: s.userId,
    effectiveAt: s.at,
    active: s.active ?? true,
    ...LICENSE_SETTINGS[s.license],
    billing: s.billing ?? 'monthly',
    recordCalls: s.recordCalls ?? false,
    ...more,
  });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.version;
}

export async function addVersions(
  db: Db,
  tenantId: string,
  specs: readonly VersionSpec[],
  receivedAt = new Date('2030-01-01T00:00:00Z'),
): Promise<void> {
  const versions = specs.map(
    (s) =>
      parseVersionSpec(tenantId, s, {
        email: `${s.userId}@example.com`,
        lastName: s.userId,
      }) as SettingsVersion,
  );
  const { outcomes } = await db
    .transaction()
    .execute((trx) => storeSettingsVersions(trx, versions, receivedAt));
  const refused = outcomes.find((o) => o.status === 'conflict');
  if (refused) throw new Error(refused.reason);
}

/** One login per user on `day` (stands in for ingestion: a daily_activity row and a revision bump). */
export async function addActivity(
  db: Db,
  tenantId: string,
  day: string,
  userIds: readonly string[],
): Promise<void> {
  if (userIds.length === 0) return;
  await sql`
    INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
    SELECT ${tenantId}::text, ${day}::date, u, ${day}::date + time '12:00', ${day}::date + time '12:00', 1
    FROM unnest(${[...userIds]}::text[]) AS u
    ON CONFLICT DO NOTHING
  `.execute(db);
  await bumpDayRevisions(db, [{ tenantId, day }]);
}

export interface LineView {
  userId: string;
  item: string;
  billing: string;
  amount: number;
  unitPrice: number;
}

/** The current lines of a tenant-day, in (user, item) byte order. */
export async function currentLines(db: Db, tenantId: string, day: string): Promise<LineView[]> {
  const rows = await db
    .selectFrom('charge_lines as l')
    .innerJoin('runs as r', 'r.id', 'l.run_id')
    .select(['l.user_id', 'l.item', 'l.billing', 'l.amount', 'l.unit_price'])
    .where('r.tenant_id', '=', tenantId)
    .where('r.day', '=', day)
    .where('r.is_current', '=', true)
    .orderBy('l.user_id')
    .orderBy('l.item')
    .execute();
  return rows.map((r) => ({
    userId: r.user_id,
    item: r.item,
    billing: r.billing,
    amount: Number(r.amount),
    unitPrice: Number(r.unit_price),
  }));
}

/** Every row of every table the billing writes or reads, for "nothing changed" checks. */
export async function snapshotTables(db: Db): Promise<Record<string, unknown[]>> {
  const tables = [
    'tenants',
    'settings_versions',
    'price_books',
    'daily_activity',
    'day_marks',
    'runs',
    'charge_lines',
    'adjustment_lines',
    'periods',
  ] as const;
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    const { rows } = await sql`SELECT * FROM ${sql.table(t)} ORDER BY 1, 2, 3`.execute(db);
    out[t] = rows;
  }
  return out;
}
