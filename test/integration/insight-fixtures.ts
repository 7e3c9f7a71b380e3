/** A tenant with random users, logins ingested through the real ingest path, and days billed. */

import { Writable } from 'node:stream';
import fc from 'fast-check';
import { sql } from 'kysely';
import { billDay } from '../../src/billing/bill-day.service.ts';
import type { Db } from '../../src/db/database.ts';
import type { InvoiceRow } from '../../src/db/repositories/invoice.repository.ts';
import { addDays, dayBounds, dayRange } from '../../src/domain/calendar.ts';
import { writeInvoiceCsv } from '../../src/export/invoice-csv.ts';
import { EventIngestor, type IngestItem } from '../../src/ingest/event-ingest.service.ts';
import { parseLoginEvent } from '../../src/ingest/login-event.schema.ts';
import { addVersions, type LicenseName, seedTenant, type VersionSpec } from './bill-day-fixtures.ts';

export const ZONE = 'Europe/Prague';
/** The business clock of these tests: October 2026 and 1..13 November are billable. */
export const NOW = new Date('2026-11-15T12:00:00Z');

const LICENSES: LicenseName[] = ['dashboard', 'standard', 'professional', 'enterprise', 'developer'];

const versionArb = fc.record({
  day: fc.integer({ min: -3, max: 30 }),
  minute: fc.integer({ min: 0, max: 1439 }),
  license: fc.constantFrom(...LICENSES),
  billing: fc.constantFrom('monthly' as const, 'daily' as const),
  recordCalls: fc.boolean(),
  active: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
});

/** Random settings histories (1-4 versions, from late September into October) for `n` users. */
export function randomUsers(n: number, seed: number): VersionSpec[] {
  const histories = fc.sample(fc.array(versionArb, { minLength: 1, maxLength: 4 }), { seed, numRuns: n });
  const specs: VersionSpec[] = [];
  histories.forEach((versions, u) => {
    const seen = new Set<number>();
    for (const v of versions) {
      const start = dayBounds(addDays('2026-10-01', v.day), ZONE).start.getTime() + v.minute * 60_000;
      if (seen.has(start)) continue;
      seen.add(start);
      specs.push({
        userId: `u${String(u).padStart(2, '0')}`,
        at: new Date(start).toISOString(),
        license: v.license,
        billing: v.billing,
        recordCalls: v.recordCalls,
        active: v.active,
      });
    }
  });
  return specs;
}

/** Login events for users on random days: 1-12 events per user-day, ingested as one batch. */
export async function ingestRandomLogins(
  db: Db,
  tenantId: string,
  userIds: readonly string[],
  seed: number,
  days = dayRange('2026-10-01', '2026-11-14'),
): Promise<void> {
  const rng = fc.sample(fc.integer({ min: 0, max: 1_000_000 }), {
    seed,
    numRuns: userIds.length * days.length * 2,
  });
  let k = 0;
  const items: IngestItem[] = [];
  for (const userId of userIds) {
    for (const day of days) {
      const r = rng[k++] as number;
      const count = r % 3 === 0 ? 0 : 1 + ((rng[k++] as number) % 12);
      const { start } = dayBounds(day, ZONE);
      for (let i = 0; i < count; i++) {
        const event = {
          eventId: `${userId}-${day}-${i}`,
          tenantId,
          userId,
          occurredAt: new Date(start.getTime() + (i * 97 + 13) * 60_000).toISOString(),
        };
        items.push({
          raw: JSON.stringify(event),
          location: `test ${items.length}`,
          parsed: parseLoginEvent(event),
        });
      }
    }
  }
  await new EventIngestor(db, () => NOW).ingest(items, { source: 'http' });
}

/** A tenant `tenantId` with `users` random users, logins, and October 2026 billed. */
export async function seedBilledTenant(
  db: Db,
  tenantId: string,
  opts: { users: number; seed: number; billTo?: string },
): Promise<string[]> {
  await seedTenant(db, { id: tenantId, timezone: ZONE });
  const specs = randomUsers(opts.users, opts.seed);
  await addVersions(db, tenantId, specs);
  const userIds = [...new Set(specs.map((s) => s.userId))];
  await ingestRandomLogins(db, tenantId, userIds, opts.seed + 1);
  for (const day of dayRange('2026-10-01', opts.billTo ?? '2026-10-31')) {
    await billDay(db, { tenantId, day, trigger: 'manual', now: NOW });
  }
  return userIds;
}

/** The invoice rows of a month (the export itself, through a discarding sink). */
export async function invoiceRows(
  db: Db,
  month: string,
  tenantId: string,
): Promise<{ rows: InvoiceRow[]; total: number }> {
  const rows: InvoiceRow[] = [];
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const result = await writeInvoiceCsv(db, { month, tenantId, onRow: (r) => rows.push(r) }, sink);
  return { rows, total: [...result.totals.values()].reduce((a, b) => a + b, 0) };
}

/** Row counts of every table, and the day revisions: what a read-only command must leave as it was. */
export async function tableFingerprint(db: Db): Promise<Record<string, unknown>> {
  const tables = [
    'tenants',
    'api_keys',
    'settings_versions',
    'price_books',
    'login_events',
    'daily_activity',
    'ingest_rejects',
    'day_marks',
    'runs',
    'charge_lines',
    'adjustment_lines',
    'periods',
    'ingest_counts',
    'run_failures',
    'day_activity_counts',
    'console_run_totals',
  ];
  const out: Record<string, unknown> = {};
  for (const t of tables) {
    const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(t)}`.execute(db);
    out[t] = rows[0]?.n;
  }
  const { rows } =
    await sql`SELECT tenant_id, from_day, to_day, revision::text FROM day_marks ORDER BY 1, 2, 3`.execute(db);
  out.revisions = rows;
  const seq = await sql`SELECT max(id)::text AS m FROM runs`.execute(db);
  out.maxRunId = seq.rows;
  return out;
}
