/**
 * Billing benchmark (issue 4 speed (a) and (b); issue 11 "history does not count"): one
 * tenant-day of 1,000,000 users (20% daily-billed professional, 40% of those active that day, 30%
 * of all users recording), generated with SQL generate_series on a durable PostgreSQL (fsync on,
 * shared_buffers 1 GB). The license intervals are written by the database's own trigger, as for
 * any import.
 *
 * (a) the BARE floor: one INSERT ... SELECT of the same lines from one row per user already
 *     resolved (license, billing, recording, active that day, prices) into a table with the same
 *     key as charge_lines: nothing left to compute. Also printed: the same day query billDay
 *     uses (`dayLinesSql`) run as one bare INSERT ... SELECT under a run row (the design alone);
 * (b) `billing run --day D --tenant big` as a child process, compiled as the production image
 *     runs it (`tsc -p tsconfig.build.json` into a temp dir), its peak RSS from /usr/bin/time -v;
 *     the in-process time of billDay itself is read from the run's pino summary (`seconds`) and
 *     the process's wall time is shown too. Once more from source (`node bin/billing.js`, tsx),
 *     whose loader alone costs ~60 MB; `run --help` of both is printed as the RSS baseline.
 * (b') billDay called in the bench's own session (warm, as the floor's): the first run of the
 *     month, a re-run, the next day and the day after (the month's rows compared with its base);
 * Between measurements the run tables are truncated, so every (b) is a first run of the day;
 * a re-run (previous current run present: supersede + diff against 1M old lines) is measured once.
 * They alternate, twice each.
 *
 * (c) history: two more tenants of BENCH_HISTORY_USERS users (default 200,000) with the same users
 *     and the same lines on the day, one with ONE version per user, one with TWELVE (eleven
 *     earlier versions, a month apart, each with another license than the one before): billDay
 *     of the same day for each, alternating, three times; the best of each and their ratio
 *     (target <= 1.1).
 *
 *   npm run bench -- billing                 (BENCH_USERS=1000000 by default)
 *
 * BENCH_HOLD=FILE: at the end, print the database's URL and keep it running while FILE exists.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { billDay } from '../../src/billing/bill-day.service.ts';
import { openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { dayLinesSql } from '../../src/db/repositories/day-lines.repository.ts';
import { dayBounds } from '../../src/domain/calendar.ts';
import { startLocalPostgres } from '../support/services.ts';
import { buildDist } from './build-dist.ts';
import { runTimed } from './timed-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/billing.js');
const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const TENANT = 'big';
const TZ = 'Europe/Prague';
const DAY = '2026-11-10';
const NEXT_DAY = '2026-11-11';
const DAY_AFTER = '2026-11-12';

const HISTORY_USERS = Number(process.env.BENCH_HISTORY_USERS ?? 200_000);

/**
 * `users` users of `tenant` (their versions' license, billing and recording from i), 40% of the
 * daily ones active on DAY. `history` versions per user: the last one (2026-10-01) is the same
 * whatever `history` is; the earlier ones, a month apart, each hold another license.
 */
async function seedTenant(db: Db, tenant: string, users: number, history: number): Promise<void> {
  await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES (${tenant}, ${tenant}, ${TZ}, 'EUR')`.execute(
    db,
  );
  // i % 5 = 0: daily professional (20%); others monthly, licenses in rotation; i % 10 < 3 records calls (30%).
  await sql`
    INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name, settings, license,
      billing, record_calls, reasons)
    SELECT ${tenant}, 'u' || lpad(i::text, 7, '0'), timestamptz '2026-10-01 00:00+02' - make_interval(months => k),
           true, 'u' || i || '@big.example', 'User ' || i, '{}'::jsonb,
           CASE WHEN k > 0 THEN (ARRAY['dashboard','standard','professional','enterprise','developer'])[1 + (i + k) % 5]
                WHEN i % 5 = 0 THEN 'professional'
                ELSE (ARRAY['dashboard','standard','professional','enterprise','developer'])[1 + (i / 5) % 5] END,
           CASE WHEN k = 0 AND i % 5 = 0 THEN 'daily' ELSE 'monthly' END,
           i % 10 < 3, '[]'::jsonb
    FROM generate_series(1, ${users}::int) AS i, generate_series(${history - 1}::int, 0, -1) AS k
  `.execute(db);
  // 40% of the daily users logged in on the day.
  await sql`
    INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
    SELECT ${tenant}, ${DAY}::date, 'u' || lpad(i::text, 7, '0'), timestamptz '2026-11-10 09:00+01',
           timestamptz '2026-11-10 17:00+01', 3
    FROM generate_series(1, ${users}::int) AS i WHERE i % 5 = 0 AND (i / 5) % 5 < 2
  `.execute(db);
}

async function seed(db: Db): Promise<void> {
  await sql`
    INSERT INTO price_books (tenant_id, currency, valid_from, monthly_dashboard, monthly_standard, monthly_professional,
      monthly_enterprise, monthly_developer, monthly_recording, daily_professional, daily_enterprise, daily_recording)
    VALUES (NULL, 'EUR', '2026-01-01', 500, 1900, 3900, 5900, 9900, 900, 250, 390, 50)
  `.execute(db);
  await seedTenant(db, TENANT, USERS, 1);
  // The bare floor's input: one row per user, already resolved for DAY (what billDay derives).
  await sql`
    CREATE TABLE floor_users (user_id text COLLATE "C" PRIMARY KEY, license text NOT NULL, billing text NOT NULL,
      recording boolean NOT NULL, active boolean NOT NULL, license_price bigint NOT NULL, recording_price bigint NOT NULL)
  `.execute(db);
  await sql`
    INSERT INTO floor_users
    SELECT v.user_id, v.license, v.billing, v.record_calls AND v.license IN ('standard', 'professional'),
           a.user_id IS NOT NULL,
           CASE WHEN v.billing = 'daily' THEN 250
                ELSE (ARRAY[500, 1900, 3900, 5900, 9900])[array_position(ARRAY['dashboard','standard','professional','enterprise','developer'], v.license)] END,
           CASE WHEN v.billing = 'daily' THEN 50 ELSE 900 END
    FROM settings_versions v
    LEFT JOIN daily_activity a ON a.tenant_id = v.tenant_id AND a.day = ${DAY}::date AND a.user_id = v.user_id
    WHERE v.tenant_id = ${TENANT}
    ORDER BY v.user_id
  `.execute(db);
  await sql`CREATE TABLE floor_lines (LIKE charge_lines INCLUDING INDEXES)`.execute(db);
  await sql`VACUUM ANALYZE`.execute(db);
}

async function truncateRuns(db: Db): Promise<void> {
  await sql`TRUNCATE charge_lines, adjustment_lines, console_run_totals, invoice_month_rows, invoice_month_days,
    invoice_month_bases, runs`.execute(db);
  await sql`CHECKPOINT`.execute(db);
}

/** The bare floor: the same lines from per-user rows already resolved, into a table with the same key. */
async function bareFloor(db: Db): Promise<{ seconds: number; lines: number; wal: string }> {
  await sql`TRUNCATE floor_lines`.execute(db);
  await sql`CHECKPOINT`.execute(db);
  await sql`SET jit = off`.execute(db);
  const mark = await walMark(db);
  const t0 = performance.now();
  const r = await sql`
    INSERT INTO floor_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
    SELECT 1, u.user_id, x.item, u.billing,
           CASE WHEN u.billing = 'monthly' THEN x.price * 10 / 30 - x.price * 9 / 30 ELSE x.price END, x.price, 1
    FROM floor_users u
    CROSS JOIN LATERAL (VALUES (('license.' || u.license) COLLATE "C", u.license_price, true),
                               ('addon.recording' COLLATE "C", u.recording_price, u.recording)) AS x(item, price, wanted)
    WHERE x.wanted AND (u.billing = 'monthly' OR u.active)
  `.execute(db);
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, lines: Number(r.numAffectedRows ?? 0), wal: await walSince(db, mark) };
}

/** The day query billDay uses, alone: one INSERT ... SELECT under a bare run row. */
async function queryFloor(db: Db, tenant = TENANT): Promise<{ seconds: number; lines: number }> {
  const b = dayBounds(DAY, TZ);
  const params = { tenantId: tenant, day: DAY, start: b.start, end: b.end, dayOfMonth: 10, monthLength: 30 };
  const { rows } = await sql<{ id: string }>`
    INSERT INTO runs (tenant_id, day, kind, trigger, input_revision, started_at, finished_at, line_count, total, currency)
    VALUES (${tenant}, ${DAY}, 'charge', 'manual', 0, now(), now(), 0, 0, 'EUR') RETURNING id
  `.execute(db);
  const runId = rows[0]?.id as string;
  // The same planner settings billDay uses for its day query (JIT off; see tuneForDayRun).
  await sql`SET jit = off`.execute(db);
  const t0 = performance.now();
  const r = await sql`
    INSERT INTO charge_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
    SELECT ${runId}::bigint, user_id, item, billing, amount, unit_price, 1 FROM (${dayLinesSql(params, '1', true)}) l
  `.execute(db);
  return { seconds: (performance.now() - t0) / 1000, lines: Number(r.numAffectedRows ?? 0) };
}

/**
 * (b') billDay in the bench's own session, as the floor runs: a backend that has already touched
 * the shared buffers it reads and writes. A fresh backend (every `billing run` process) first
 * takes a page fault per 4 kB page of shared memory it touches (no huge pages here): ~0.5 s per
 * 160 MB read, measured on the base run's lines. The worker's pooled connections are warm.
 */
async function warmSession(db: Db, floors: readonly number[]): Promise<void> {
  const bill = async (day: string) => {
    const t0 = performance.now();
    const out = await billDay(db, {
      tenantId: TENANT,
      day,
      trigger: 'manual',
      now: new Date('2027-01-01T00:00:00Z'),
    });
    if (out.status !== 'billed') throw new Error(`warm billDay ${day}: ${out.status}`);
    return { seconds: (performance.now() - t0) / 1000, lines: out.lineCount };
  };
  const floor = Math.min(...floors);
  await truncateRuns(db);
  for (const [what, day] of [
    ['first run of the month', DAY],
    ['re-run of the same day', DAY],
    ['the next day', NEXT_DAY],
    ['the day after', DAY_AFTER],
  ] as const) {
    const r = await bill(day);
    console.log(
      `(b') billDay in the bench's session, ${what} (${day}): ${f2(r.seconds)} s, ${r.lines} lines, ${f2(r.seconds / floor)}x the best bare floor`,
    );
  }
}

/** (c) The same day of the one-version and the twelve-version tenant, alternating, with billDay. */
async function historyComparison(db: Db): Promise<void> {
  const t0 = performance.now();
  await seedTenant(db, 'one', HISTORY_USERS, 1);
  await seedTenant(db, 'twelve', HISTORY_USERS, 12);
  await sql`VACUUM ANALYZE`.execute(db);
  console.log(
    `\n(c) history: seeded ${HISTORY_USERS} users with 1 and with 12 versions each in ${f2((performance.now() - t0) / 1000)} s`,
  );
  const best: Record<string, number> = {};
  const seen: Record<string, string> = {};
  for (let i = 0; i < 3; i++) {
    for (const tenant of ['one', 'twelve']) {
      await truncateRuns(db);
      const out = await billDay(db, {
        tenantId: tenant,
        day: DAY,
        trigger: 'manual',
        now: new Date('2027-01-01T00:00:00Z'),
      });
      if (out.status !== 'billed') throw new Error(`history ${tenant}: ${out.status}`);
      const { rows } = await sql<{ s: number }>`
        SELECT extract(epoch FROM finished_at - started_at)::float8 AS s FROM runs WHERE id = ${out.runId}::bigint`.execute(
        db,
      );
      const seconds = Number(rows[0]?.s);
      best[tenant] = Math.min(best[tenant] ?? Number.POSITIVE_INFINITY, seconds);
      seen[tenant] = `${out.lineCount} lines, total ${out.total}`;
      console.log(
        `    ${tenant.padEnd(6)} version(s) per user: billDay transaction ${f2(seconds)} s, ${seen[tenant]}`,
      );
    }
  }
  if (seen.one !== seen.twelve)
    throw new Error(`the two tenants' days differ: ${seen.one} vs ${seen.twelve}`);
  console.log(
    `    best: 1 version ${f2(best.one as number)} s, 12 versions ${f2(best.twelve as number)} s: ratio ${f2((best.twelve as number) / (best.one as number))} (target <= 1.1)`,
  );
}

interface CliRun {
  wallSeconds: number;
  billDaySeconds: number;
  peakRssMb: number;
  lines: number;
}

function helpRssMb(entry: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-v', process.execPath, entry, 'run', '--help'], {
      // bin/billing.js would run a fresh dist/: the "from source" figures need tsx.
      env: { ...process.env, BILLING_FROM_SOURCE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', () =>
      resolve(Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1] ?? Number.NaN) / 1024),
    );
  });
}

async function billingRun(url: string, entry: string, day = DAY): Promise<CliRun> {
  const r = await runTimed([entry, 'run', '--day', day, '--tenant', TENANT], {
    DATABASE_URL: url,
    LOG_LEVEL: 'info',
    BILLING_FROM_SOURCE: '1',
  });
  if (r.code !== 0) throw new Error(`billing run exited ${r.code}: ${r.stderr}`);
  const summary = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg?: string; seconds?: number; lineCount?: number })
    .find((l) => l.msg === 'tenant-day run finished');
  if (!summary) throw new Error(`no run summary in: ${r.stdout}${r.stderr}`);
  return {
    wallSeconds: r.seconds,
    billDaySeconds: summary.seconds ?? Number.NaN,
    peakRssMb: r.peakRssMb,
    lines: summary.lineCount ?? 0,
  };
}

const f2 = (n: number) => n.toFixed(2);

/** The server's WAL position and checkpoint count: what a measured step wrote and caused. */
async function walMark(db: Db): Promise<{ lsn: string; checkpoints: number }> {
  const { rows } = await sql<{ lsn: string; n: string }>`
    SELECT pg_current_wal_lsn()::text AS lsn, (checkpoints_req + checkpoints_timed)::text AS n
    FROM pg_stat_bgwriter`.execute(db);
  const r = rows[0] as { lsn: string; n: string };
  return { lsn: r.lsn, checkpoints: Number(r.n) };
}

/** `WAL x MB, k checkpoint(s)` between two marks. */
async function walSince(db: Db, from: { lsn: string; checkpoints: number }): Promise<string> {
  const to = await walMark(db);
  const { rows } = await sql<{ b: string }>`
    SELECT pg_wal_lsn_diff(${to.lsn}::pg_lsn, ${from.lsn}::pg_lsn)::text AS b`.execute(db);
  return `WAL ${f2(Number(rows[0]?.b) / 1e6)} MB, ${to.checkpoints - from.checkpoints} checkpoint(s) during`;
}

export async function run(): Promise<void> {
  const pgServer = await startLocalPostgres({ durable: true, sharedBuffers: '1GB' });
  const conn = await openPostgres(pgServer.url, 1); // one session: SET jit applies to the floor
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-run-bench-'));
  try {
    const compiled = await buildDist(dir);
    console.log(
      `RSS of \`run --help\`: compiled ${f2(await helpRssMb(compiled))} MB, from source (tsx) ${f2(await helpRssMb(BIN))} MB`,
    );
    await migrateToLatest(conn.db);
    const t0 = performance.now();
    await seed(conn.db);
    console.log(`seeded ${USERS} users in ${f2((performance.now() - t0) / 1000)} s`);
    const floors: number[] = [];
    const queryFloors: number[] = [];
    const runs: CliRun[] = [];
    for (let i = 0; i < 2; i++) {
      const bare = await bareFloor(conn.db);
      floors.push(bare.seconds);
      console.log(
        `(a) bare floor INSERT ... SELECT from resolved users: ${f2(bare.seconds)} s, ${bare.lines} lines, ${bare.wal}`,
      );
      await truncateRuns(conn.db);
      const f = await queryFloor(conn.db);
      queryFloors.push(f.seconds);
      console.log(
        `    the day query alone (dayLinesSql) as one INSERT ... SELECT: ${f2(f.seconds)} s, ${f.lines} lines`,
      );
      await truncateRuns(conn.db);
      const mark = await walMark(conn.db);
      const r = await billingRun(pgServer.url, compiled);
      runs.push(r);
      console.log(
        `(b) billing run (compiled): billDay ${f2(r.billDaySeconds)} s (process wall ${f2(r.wallSeconds)} s), ${r.lines} lines, peak RSS ${f2(r.peakRssMb)} MB, ${await walSince(conn.db, mark)}`,
      );
    }
    await truncateRuns(conn.db);
    const source = await billingRun(pgServer.url, BIN);
    console.log(
      `    billing run from source (tsx): billDay ${f2(source.billDaySeconds)} s, wall ${f2(source.wallSeconds)} s, peak RSS ${f2(source.peakRssMb)} MB`,
    );
    const rerun = await billingRun(pgServer.url, compiled);
    console.log(
      `    re-run of the same day (supersede + diff against ${rerun.lines} old lines): billDay ${f2(rerun.billDaySeconds)} s, wall ${f2(rerun.wallSeconds)} s, peak RSS ${f2(rerun.peakRssMb)} MB`,
    );
    // The night's usual case: the month's invoice rows exist (day DAY) and are updated, not inserted.
    const next = await billingRun(pgServer.url, compiled, NEXT_DAY);
    console.log(
      `    the next day (${NEXT_DAY}, no activity: monthly lines only; the month's invoice rows updated): billDay ${f2(next.billDaySeconds)} s, ${next.lines} lines`,
    );
    const bestFloor = Math.min(...floors);
    const bestRun = Math.min(...runs.map((r) => r.billDaySeconds));
    const bestWall = Math.min(...runs.map((r) => r.wallSeconds));
    console.log(
      `\nratio billDay / bare floor: ${f2(bestRun / bestFloor)} (target <= 2.5); whole process / bare floor: ${f2(bestWall / bestFloor)}; day query alone / bare floor: ${f2(Math.min(...queryFloors) / bestFloor)}`,
    );
    console.log(
      `peak RSS of billing run (compiled, incl. re-run): ${f2(Math.max(...runs.map((r) => r.peakRssMb), rerun.peakRssMb))} MB (target <= 200 MB)`,
    );
    await warmSession(conn.db, floors);
    await truncateRuns(conn.db);
    await historyComparison(conn.db);
    const hold = process.env.BENCH_HOLD;
    if (hold) {
      console.log(`BENCH_HOLD: the database stays at ${pgServer.url} while ${hold} exists`);
      while (existsSync(hold)) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  } finally {
    await conn.close();
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
