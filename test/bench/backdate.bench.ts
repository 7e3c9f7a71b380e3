/**
 * Back-dating benchmark (issue 10 "day marks are ranges", issue 14 "Amplification"): the cost of
 * storing ONE settings version back-dated by 1 day, 1 year and 10 years, on a durable
 * PostgreSQL, with the same tenant (2,000 users, a default price book from 2000-01-01).
 * For each: the time of `storeSettingsVersions` in its transaction, the day-mark rows it wrote,
 * and the rows the old per-day model wrote for the same version (one per day up to receipt).
 * Then what the next plan costs: one page of due days (capped) and the lag aggregate.
 *
 *   npm run bench -- backdate
 */

import { sql } from 'kysely';
import { billingLag, findDuePage } from '../../src/billing/due-days.service.ts';
import { dayCount, dayOf } from '../../src/domain/calendar.ts';
import { storeSettingsVersions, toSettingsVersion } from '../../src/ingest/settings-import.service.ts';
import { insertBenchTenant, withBenchDatabase } from './bench-database.ts';
import { median } from './stats.ts';

const TENANT = 'bench';
const TZ = 'Europe/Prague';
const NOW = new Date('2026-11-28T10:00:00Z');
const ROUNDS = 5;

export async function run(): Promise<void> {
  await withBenchDatabase({ poolSize: 2 }, async (db) => {
    await insertBenchTenant(db, TENANT, 'Bench');
    await sql`
      INSERT INTO price_books (tenant_id, currency, valid_from, monthly_dashboard, monthly_standard, monthly_professional,
        monthly_enterprise, monthly_developer, monthly_recording, daily_professional, daily_enterprise, daily_recording)
      VALUES (NULL, 'EUR', '2000-01-01', 500, 1900, 3900, 5900, 9900, 900, 250, 390, 50)
    `.execute(db);
    await sql`
      INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, settings, license, billing, record_calls, reasons)
      SELECT ${TENANT}, 'u' || i, timestamptz '2026-10-01 00:00+02', true,
             '{"role":"user","permissions":["communication"],"trackStatistics":false,"skills":[],"recordCalls":false,"billing":"monthly"}'::jsonb,
             'standard', 'monthly', false, '[]'::jsonb
      FROM generate_series(1, 2000) AS i
    `.execute(db);

    const marks = async () =>
      Number((await sql<{ n: string }>`SELECT count(*) AS n FROM day_marks`.execute(db)).rows[0]?.n);
    const cases = [
      { label: '1 day', days: 1 },
      { label: '1 year', days: 365 },
      { label: '10 years', days: 3652 },
    ];
    console.log('back-dated by | median ms (5 versions) | mark rows per version | per-day rows (old model)');
    let n = 0;
    // The first case runs twice: its first round warms the connection and the plans up.
    for (const c of [cases[0] as (typeof cases)[number], ...cases]) {
      const times: number[] = [];
      const rows: number[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        n += 1;
        const effectiveAt = new Date(NOW.getTime() - c.days * 86_400_000 - n * 1000);
        const version = toSettingsVersion({
          tenantId: TENANT,
          userId: `backdated-${n}`,
          effectiveAt,
          active: true,
          role: 'user',
          permissions: ['communication'],
          trackStatistics: false,
          skills: [],
          recordCalls: false,
          billing: 'monthly',
        } as Parameters<typeof toSettingsVersion>[0]);
        const before = await marks();
        const t0 = performance.now();
        await db.transaction().execute((trx) => storeSettingsVersions(trx, [version], NOW));
        times.push(performance.now() - t0);
        rows.push((await marks()) - before);
      }
      const oldRows = dayCount(dayOf(new Date(NOW.getTime() - c.days * 86_400_000), TZ), dayOf(NOW, TZ));
      console.log(
        `${c.label.padEnd(13)} | ${median(times).toFixed(1).padStart(22)} | ${String(Math.max(...rows)).padStart(21)} | ${oldRows}`,
      );
    }

    // The next plan over the 10-year history: one capped page and the lag, both in SQL.
    const t1 = performance.now();
    const page = await findDuePage(db, NOW, { limit: 5000 });
    const pageMs = performance.now() - t1;
    const t2 = performance.now();
    const lag = await billingLag(db, NOW);
    const lagMs = performance.now() - t2;
    console.log(
      `plan page of ${page.days.length} due days (cap 5,000): ${pageMs.toFixed(0)} ms; lag ${lag[0]?.days} days computed in ${lagMs.toFixed(0)} ms (one aggregate)`,
    );
  });
}
