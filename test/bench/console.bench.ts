/**
 * Console benchmark (issue 13): how long each console page takes for a large tenant, over real
 * HTTP (fastify + the console plugin, Basic auth) against PostgreSQL 15, medians of BENCH_ROUNDS.
 * The tenant is generated with SQL: BENCH_USERS users (default 1,000,000), BENCH_DAYS days of
 * November billed (default 10; 30 is the whole month, ~34M lines, ~8 min of generation here),
 * each day ~1.07M charge lines and ~50% of the users active, one day billed twice (for the run
 * diff), settings versions and a price book (for the user page and the replay dry run), and
 * 20,000 rejects. The month page is timed twice: the first visit sums each run's lines once
 * (`console_run_totals`), later visits read those sums.
 *
 *   npm run bench -- console
 *   BENCH_USERS=100000 BENCH_DAYS=30 npm run bench -- console
 */

import { sql } from 'kysely';
import { registerConsole } from '../../src/console/console.plugin.ts';
import type { Db } from '../../src/db/database.ts';
import { bumpDayRevisions } from '../../src/db/repositories/day-revision.repository.ts';
import { buildServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { basicAuth } from '../support/http.ts';
import { benchScale, fillBenchRun, insertBenchTenant, withBenchDatabase } from './bench-database.ts';

const { users: USERS, days: DAYS, rounds: ROUNDS, month: MONTH } = benchScale(3);
const TENANT = 'big';
/** The business clock: after the last generated day's cut-off. */
const NOW = new Date(`${MONTH}-${String(DAYS + 1).padStart(2, '0')}T12:00:00Z`);
const USER = 'bench';
const PASSWORD = 'bench-console-password';
const uid = (i: number) => `u${String(i).padStart(7, '0')}`;

export async function seed(db: Db): Promise<void> {
  await insertBenchTenant(db, TENANT, 'Big Contact Centre');
  await sql`
    INSERT INTO price_books (tenant_id, currency, valid_from, monthly_dashboard, monthly_standard,
      monthly_professional, monthly_enterprise, monthly_developer, monthly_recording,
      daily_professional, daily_enterprise, daily_recording)
    VALUES (NULL, 'EUR', '2026-01-01', 500, 1900, 3900, 5900, 9900, 900, 250, 390, 50)`.execute(db);
  await sql`
    INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name, settings,
                                   license, billing, record_calls, reasons)
    SELECT ${TENANT}, 'u' || lpad(i::text, 7, '0'), '2026-10-01T00:00:00Z', true,
           'u' || i || '@big.example', 'Surname ' || i,
           CASE WHEN i % 5 = 0 THEN '{"role":"team_leader","billing":"daily"}'::jsonb ELSE '{}'::jsonb END,
           CASE WHEN i % 5 = 0 THEN 'professional' ELSE 'standard' END,
           CASE WHEN i % 5 = 0 THEN 'daily' ELSE 'monthly' END, false, '[]'
    FROM generate_series(0, ${USERS - 1}) i`.execute(db);
  await sql`
    CREATE UNLOGGED TABLE bench_universe AS
    SELECT i, 'u' || lpad(i::text, 7, '0') AS user_id,
           CASE WHEN i % 5 = 0 THEN 'license.professional' ELSE 'license.standard' END AS item,
           CASE WHEN i % 5 = 0 THEN 'daily' ELSE 'monthly' END AS billing,
           CASE WHEN i % 5 = 0 THEN 250 ELSE 1900 END AS price
    FROM generate_series(0, ${USERS - 1}) i`.execute(db);
  await sql`ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_pkey`.execute(db);
  await sql`ALTER TABLE daily_activity DROP CONSTRAINT daily_activity_pkey`.execute(db);
  const started = performance.now();
  for (let d = 1; d <= DAYS; d++) {
    const day = `${MONTH}-${String(d).padStart(2, '0')}`;
    await sql`
      INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
      SELECT ${TENANT}, ${day}::date, user_id, ${day}::date + time '08:00', ${day}::date + time '17:00', 2
      FROM bench_universe WHERE (i::bigint * 2654435761 + ${d} * 40503) % 100 < 50`.execute(db);
    // Day 1 is billed twice (the second run drops one user's line): the day page's run diff.
    for (const second of d === 1 ? [false, true] : [false]) {
      const { rows } = await sql<{ id: string }>`
        INSERT INTO runs (tenant_id, day, kind, trigger, is_current, input_revision, started_at, finished_at,
                          line_count, total, currency, superseded_at)
        VALUES (${TENANT}, ${day}::date, 'charge', ${second ? 'replay' : 'schedule'}, ${d !== 1 || second}, 1, now(), now(), 0, 0, 'EUR',
                ${d === 1 && !second ? sql`now()` : sql`NULL`}) RETURNING id`.execute(db);
      const runId = rows[0]?.id as string;
      await fillBenchRun(db, runId, d, 50, sql`NOT (${second} AND i = 1)`);
    }
    await bumpDayRevisions(db, [{ tenantId: TENANT, day }]);
    process.stdout.write(
      `\rgenerating day ${d}/${DAYS} (${((performance.now() - started) / 1000).toFixed(0)} s)`,
    );
  }
  await sql`
    INSERT INTO ingest_rejects (received_at, source, tenant_id, event_id, raw, reason)
    SELECT ${NOW}::timestamptz - make_interval(secs => i), 'http', ${TENANT}, 'e' || i,
           '{"eventId":"e' || i || '","userId":"<img src=x>"}', 'occurredAt: required'
    FROM generate_series(1, 20000) i`.execute(db);
  await sql`DROP TABLE bench_universe`.execute(db);
  await sql`ALTER TABLE charge_lines ADD PRIMARY KEY (run_id, user_id, item)`.execute(db);
  await sql`ALTER TABLE daily_activity ADD PRIMARY KEY (tenant_id, day, user_id)`.execute(db);
  await sql`VACUUM ANALYZE`.execute(db);
  await sql`CHECKPOINT`.execute(db);
  console.log(`\ngenerated in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

export async function run(): Promise<void> {
  await withBenchDatabase({ poolSize: 10, sharedBuffers: '1GB' }, async (db) => {
    await seed(db);
    const { rows } = await sql<{ lines: string; runs: string }>`
      SELECT (SELECT count(*) FROM charge_lines)::text AS lines, (SELECT count(*) FROM runs)::text AS runs`.execute(
      db,
    );
    const runIds = (
      await sql<{
        id: string;
      }>`SELECT id::text FROM runs WHERE day = ${`${MONTH}-01`}::date ORDER BY id`.execute(db)
    ).rows.map((r) => r.id);
    const app = buildServer({ db, logger: createLogger('warn'), now: () => NOW });
    await registerConsole(app, { db, user: USER, password: PASSWORD, now: () => NOW });
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const auth = { authorization: basicAuth(USER, PASSWORD) };
    const get = async (path: string): Promise<{ seconds: number; bytes: number }> => {
      const t0 = performance.now();
      const res = await fetch(`${base}${path}`, { headers: auth });
      const body = await res.arrayBuffer();
      if (res.status !== 200)
        throw new Error(`${path}: HTTP ${res.status}: ${Buffer.from(body).toString().slice(0, 500)}`);
      return { seconds: (performance.now() - t0) / 1000, bytes: body.byteLength };
    };
    const day = `/console/tenants/${TENANT}/days/${MONTH}-01`;
    const pages: Array<[string, string, number]> = [
      ['month, first visit (sums each run once)', `/console/tenants/${TENANT}/months/${MONTH}`, 1],
      ['month', `/console/tenants/${TENANT}/months/${MONTH}`, ROUNDS],
      ['overview', '/console', ROUNDS],
      ['day: runs + first 50 lines', day, ROUNDS],
      [
        'day: lines page after the 500,000th user',
        `${day}?afterUser=${uid(Math.floor(USERS / 2))}&afterItem=z`,
        ROUNDS,
      ],
      ['day: lines of users starting with u00424', `${day}?user=u00424`, ROUNDS],
      ['day: diff of its two runs', `${day}?from=${runIds[0]}&to=${runIds[1]}`, ROUNDS],
      ['user: explain a month', `/console/tenants/${TENANT}/users/${uid(5)}?month=${MONTH}`, ROUNDS],
      ['user: explain a day', `/console/tenants/${TENANT}/users/${uid(5)}?day=${MONTH}-01`, ROUNDS],
      ['rejects (20,000 kept), first page', '/console/rejects', ROUNDS],
      ['rejects filtered by reason, first page', '/console/rejects?tenant=big&reason=occurredAt', ROUNDS],
      ['day: replay dry run (an action: bills the day without writing)', `${day}?preview=1`, 1],
      ['invoice.csv (the export, streamed)', `/console/tenants/${TENANT}/months/${MONTH}/invoice.csv`, 1],
    ];
    const results: Record<string, string | number>[] = [];
    for (const [what, path, rounds] of pages) {
      const times: number[] = [];
      let bytes = 0;
      for (let r = 0; r < rounds; r++) {
        const m = await get(path);
        times.push(m.seconds);
        bytes = m.bytes;
      }
      results.push({
        page: what,
        'median s': Number(median(times).toFixed(3)),
        rounds,
        KB: Math.round(bytes / 1024),
      });
      console.log(`${what}: ${median(times).toFixed(3)} s`);
    }
    await app.close();
    console.log(
      `\nconsole pages, tenant of ${USERS.toLocaleString('en')} users, ${DAYS} days billed (${Number(rows[0]?.lines).toLocaleString('en')} charge lines, ${rows[0]?.runs} runs), PostgreSQL 15, over HTTP:`,
    );
    console.table(results);
  });
}
