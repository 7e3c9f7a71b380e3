/**
 * Night benchmark (issue 11, read paths (c)): a night of many small tenants against one big
 * tenant of the same users, on a durable PostgreSQL 15 (fsync on, shared_buffers 1 GB).
 *
 * Two databases on one server, the same users and lines split two ways:
 * - `floor`: ONE tenant of TENANTS x USERS users (the same user mix);
 * - `night`: TENANTS tenants of USERS users each (default 10,000 x 50), set up with
 *   `billing tenants import` (the import's time is printed too), time zones in rotation.
 * Measured, in the same run:
 * (1) `billing run --day D` (compiled, as the image runs it) on each database: the big tenant's
 *     one day is the floor, the night bills every tenant's day D; ratio and overhead per
 *     tenant-day = (night - floor) / TENANTS in ms;
 * (2) the same through the queue: a `plan-night` job at a fixed instant and two billing workers
 *     (own connections, concurrency BENCH_WORKER_CONCURRENCY each, the plan's tenant-days in
 *     `bill-days` jobs of BENCH_CHUNK_DAYS) until every tenant-day has its current run; the floor
 *     is the big tenant through the same queue.
 * Runs are truncated between measurements, so each is a first run of the day; the night is
 * checked to have written exactly the lines of the floor (count and total).
 *
 *   npm run bench -- night                          (BENCH_TENANTS=10000 BENCH_USERS=50)
 *   BENCH_TENANTS=1000 npm run bench -- night       (the development scale)
 *   BENCH_PROFILE=1: the night's `billing run` also writes a CPU profile (node --cpu-prof) to
 *   ./night-cpu-prof/ (open it in Chrome DevTools or speedscope).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { PLAN_NIGHT } from '../../jobs/queues.ts';
import { startBillingWorker } from '../../jobs/worker.ts';
import { openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { createLogger } from '../../src/logger.ts';
import { importTenantsFile } from '../../src/tenancy/tenant-import.service.ts';
import { startLocalPostgres, startLocalRedis } from '../support/services.ts';
import { buildDist } from './build-dist.ts';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);
const USERS = Number(process.env.BENCH_USERS ?? 50);
const PROFILE = process.env.BENCH_PROFILE === '1';
/** `run`, `queue` or both (default): which of the two measurements to make. */
/** Seconds after which a queued night is stopped unfinished (BENCH_QUEUE_LIMIT_S; default: none). */
const QUEUE_LIMIT_S = Number(process.env.BENCH_QUEUE_LIMIT_S ?? Number.POSITIVE_INFINITY);
/** Bill jobs each worker runs at once (BENCH_WORKER_CONCURRENCY, default 256 as BILLING_WORKER_CONCURRENCY); they are billed in batches. */
const CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 256);
/** Tenant-days per `bill-days` job of the plan (BENCH_CHUNK_DAYS, default 200 as BILLING_PLAN_CHUNK_DAYS). */
const CHUNK_DAYS = Number(process.env.BENCH_CHUNK_DAYS ?? 200);
const PARTS = (process.env.BENCH_PARTS ?? 'run,queue').split(',');
const DAY = '2026-11-10';
/** The planning instant of the queued night: day D is the latest billable day in every zone used. */
const NOW = '2026-11-11T08:00:00.000Z';
const ZONES = ['Europe/Prague', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney', 'UTC'];
const f2 = (n: number) => n.toFixed(2);

/**
 * The default price book (valid from D, so that D is every tenant's first plannable day and a
 * queued night plans exactly one day per tenant), one settings version per user, and the day's
 * activity of the daily users.
 */
async function seedUsers(db: Db, tenantIds: string[], usersPerTenant: number): Promise<void> {
  await sql`
    INSERT INTO price_books (tenant_id, currency, valid_from, monthly_dashboard, monthly_standard, monthly_professional,
      monthly_enterprise, monthly_developer, monthly_recording, daily_professional, daily_enterprise, daily_recording)
    VALUES (NULL, 'EUR', ${DAY}::date, 500, 1900, 3900, 5900, 9900, 900, 250, 390, 50)
  `.execute(db);
  // i % 5 = 0: daily professional (20%); others monthly, licenses in rotation; i % 10 < 3 records calls.
  await sql`
    INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name, settings, license,
      billing, record_calls, reasons)
    SELECT t.id, 'u' || lpad(i::text, 7, '0'), timestamptz '2026-10-01 00:00Z', true,
           'u' || i || '@' || t.id || '.example', 'User ' || i, '{}'::jsonb,
           CASE WHEN i % 5 = 0 THEN 'professional'
                ELSE (ARRAY['dashboard','standard','professional','enterprise','developer'])[1 + (i / 5) % 5] END,
           CASE WHEN i % 5 = 0 THEN 'daily' ELSE 'monthly' END,
           i % 10 < 3, '[]'::jsonb
    FROM unnest(${tenantIds}::text[]) AS t(id) CROSS JOIN generate_series(1, ${usersPerTenant}::int) AS i
  `.execute(db);
  // 40% of the daily users logged in on the day (noon UTC is inside D in every zone used).
  await sql`
    INSERT INTO daily_activity (tenant_id, day, user_id, first_login_at, last_login_at, login_count)
    SELECT t.id, ${DAY}::date, 'u' || lpad(i::text, 7, '0'), timestamptz '2026-11-10 11:00Z',
           timestamptz '2026-11-10 13:00Z', 3
    FROM unnest(${tenantIds}::text[]) AS t(id) CROSS JOIN generate_series(1, ${usersPerTenant}::int) AS i
    WHERE i % 5 = 0 AND (i / 5) % 5 < 2
  `.execute(db);
  await sql`VACUUM ANALYZE`.execute(db);
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = await openPostgres(adminUrl, 1);
  await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin.db);
  await admin.close();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * CPU seconds of process `pid` and of its children it has reaped (/proc/<pid>/stat: utime, stime,
 * cutime, cstime, at 100 ticks a second); NaN where /proc is not there. For this process: Node
 * (the queue's workers, in process) and the `billing run` children; for the postmaster: the
 * backends of the connections closed since (each measurement closes its own).
 */
function cpuSeconds(pid: number | 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface Measured {
  seconds: number;
  nodeCpu: number;
  pgCpu: number;
}

/** `work`'s wall seconds and the CPU seconds of Node and of PostgreSQL meanwhile. */
async function timed(pgDataDir: string, work: () => Promise<number>): Promise<Measured> {
  const postmaster = Number(readFileSync(path.join(pgDataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const [node0, pg0] = [cpuSeconds('self'), cpuSeconds(postmaster)];
  const seconds = await work();
  // The closed connections' backends are reaped by the postmaster a moment after they exit.
  await new Promise((r) => setTimeout(r, 300));
  return { seconds, nodeCpu: cpuSeconds('self') - node0, pgCpu: cpuSeconds(postmaster) - pg0 };
}

const cpuText = (m: Measured) =>
  `${f2(m.seconds)} s (CPU: Node ${f2(m.nodeCpu)} s, PostgreSQL ${f2(m.pgCpu)} s)`;

async function truncateRuns(db: Db): Promise<void> {
  await sql`TRUNCATE charge_lines, adjustment_lines, console_run_totals, runs, run_failures, invoice_month_rows,
    invoice_month_days, invoice_month_bases`.execute(db);
  await sql`CHECKPOINT`.execute(db);
}

async function lineTotals(db: Db): Promise<{ runs: number; lines: number; total: string }> {
  const { rows } = await sql<{ runs: string; lines: string; total: string }>`
    SELECT count(*)::text AS runs, coalesce(sum(line_count), 0)::text AS lines, coalesce(sum(total), 0)::text AS total
    FROM runs WHERE is_current`.execute(db);
  const r = rows[0] as { runs: string; lines: string; total: string };
  return { runs: Number(r.runs), lines: Number(r.lines), total: r.total };
}

/** `billing run --day D` (compiled) against `url`; wall seconds of the whole process. */
function billingRun(entry: string, url: string, profileDir?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const args = [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), entry];
    const child = spawn(process.execPath, [...args, 'run', '--day', DAY], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`billing run exited ${code}: ${err.slice(-2000)}`));
      resolve((performance.now() - t0) / 1000);
    });
  });
}

/** A plan-night job at NOW and two billing workers until `expected` tenant-days have a current run. */
async function queueNight(url: string, redisUrl: string, expected: number, label: string): Promise<number> {
  const prefix = `bench-${label}-${Date.now()}`;
  const conns = [await openPostgres(url, 2), await openPostgres(url, 2)];
  const t0 = performance.now();
  const workers = await Promise.all(
    conns.map((c) =>
      startBillingWorker({
        db: c.db,
        redisUrl,
        prefix,
        concurrency: CONCURRENCY,
        logger: createLogger('silent'),
        planMaxJobs: expected + 10,
        planChunkDays: CHUNK_DAYS,
      }),
    ),
  );
  try {
    await workers[0]?.queues.plan.add(PLAN_NIGHT, { now: NOW }, { jobId: `${PLAN_NIGHT}.${prefix}` });
    const db = conns[0]?.db as Db;
    let reported = performance.now();
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const { runs } = await lineTotals(db);
      if (runs >= expected) break;
      if (performance.now() - t0 > QUEUE_LIMIT_S * 1000) {
        console.log(
          `  queue ${label}: stopped after ${QUEUE_LIMIT_S} s with ${runs}/${expected} tenant-days`,
        );
        break;
      }
      if (performance.now() - reported > 10_000) {
        reported = performance.now();
        const s = (reported - t0) / 1000;
        console.log(`  queue ${label}: ${runs}/${expected} tenant-days after ${f2(s)} s`);
      }
    }
    return (performance.now() - t0) / 1000;
  } finally {
    for (const w of workers) await w.close(5_000);
    for (const c of conns) await c.close();
  }
}

export async function run(): Promise<void> {
  const pg = await startLocalPostgres({ durable: true, sharedBuffers: '1GB' });
  const redis = await startLocalRedis();
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-night-bench-'));
  const opened: { close(): Promise<void> }[] = [];
  try {
    const entry = await buildDist(dir);
    const floorUrl = await createDatabase(pg.url, 'floor');
    const nightUrl = await createDatabase(pg.url, 'night');
    const floorConn = await openPostgres(floorUrl, 2);
    const nightConn = await openPostgres(nightUrl, 2);
    opened.push(floorConn, nightConn);
    await migrateToLatest(floorConn.db);
    await migrateToLatest(nightConn.db);

    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('big', 'Big', 'Europe/Prague', 'EUR')`.execute(
      floorConn.db,
    );
    const ids = Array.from({ length: TENANTS }, (_, i) => `t${String(i).padStart(5, '0')}`);
    const ndjson = ids
      .map((id, i) =>
        JSON.stringify({ id, name: `Tenant ${i}`, timezone: ZONES[i % ZONES.length], currency: 'EUR' }),
      )
      .join('\n');
    let t0 = performance.now();
    const imported = await importTenantsFile(nightConn.db, Readable.from([ndjson]), (r) => {
      throw new Error(`line ${r.lineNo} refused: ${r.reason}`);
    });
    console.log(
      `tenants import of ${TENANTS} lines: ${f2((performance.now() - t0) / 1000)} s (created ${imported.created})`,
    );
    t0 = performance.now();
    await seedUsers(floorConn.db, ['big'], TENANTS * USERS);
    await seedUsers(nightConn.db, ids, USERS);
    console.log(
      `seeded ${TENANTS * USERS} users twice (1 x ${TENANTS * USERS}, ${TENANTS} x ${USERS}) in ${f2((performance.now() - t0) / 1000)} s`,
    );

    const rows: Record<string, string>[] = [];
    const overhead = (s: number, f: number) => f2(((s - f) * 1000) / TENANTS);
    const measured = (what: string, floorM: Measured, nightM: Measured) => {
      const cpu = (m: Measured) => ({
        'CPU Node s': f2(m.nodeCpu),
        'CPU PostgreSQL s': f2(m.pgCpu),
      });
      rows.push(
        {
          what: `${what}: 1 tenant x ${TENANTS * USERS} users (floor)`,
          seconds: f2(floorM.seconds),
          ratio: '1.00',
          'ms per tenant-day over the floor': '',
          ...cpu(floorM),
          'CPU ms per tenant-day over the floor': '',
        },
        {
          what: `${what}: ${TENANTS} tenants x ${USERS} users`,
          seconds: f2(nightM.seconds),
          ratio: f2(nightM.seconds / floorM.seconds),
          'ms per tenant-day over the floor': overhead(nightM.seconds, floorM.seconds),
          ...cpu(nightM),
          'CPU ms per tenant-day over the floor': overhead(
            nightM.nodeCpu + nightM.pgCpu,
            floorM.nodeCpu + floorM.pgCpu,
          ),
        },
      );
    };
    const check = (
      label: string,
      night: Awaited<ReturnType<typeof lineTotals>>,
      floor: Awaited<ReturnType<typeof lineTotals>>,
    ) => {
      if (night.lines !== floor.lines || night.total !== floor.total || night.runs !== TENANTS)
        console.log(`MISMATCH: ${label} ${JSON.stringify(night)}, floor ${JSON.stringify(floor)}`);
    };
    let floor: Awaited<ReturnType<typeof lineTotals>> | undefined;

    // (1) billing run --day D
    if (PARTS.includes('run')) {
      const floorRun = await timed(pg.dataDir, () => billingRun(entry, floorUrl));
      floor = await lineTotals(floorConn.db);
      const profileDir = PROFILE ? path.resolve('night-cpu-prof') : undefined;
      if (profileDir) mkdirSync(profileDir, { recursive: true });
      const nightRun = await timed(pg.dataDir, () => billingRun(entry, nightUrl, profileDir));
      console.log(`billing run: floor ${cpuText(floorRun)}, night ${cpuText(nightRun)}`);
      check('night', await lineTotals(nightConn.db), floor);
      measured(`billing run --day ${DAY}`, floorRun, nightRun);
      await truncateRuns(floorConn.db);
      await truncateRuns(nightConn.db);
    }

    // (2) through the queue, two workers
    if (PARTS.includes('queue')) {
      const queueFloor = await timed(pg.dataDir, () => queueNight(floorUrl, redis.url, 1, 'floor'));
      floor ??= await lineTotals(floorConn.db);
      const queueNightM = await timed(pg.dataDir, () => queueNight(nightUrl, redis.url, TENANTS, 'night'));
      console.log(`queue: floor ${cpuText(queueFloor)}, night ${cpuText(queueNightM)}`);
      check('queued night', await lineTotals(nightConn.db), floor);
      measured(`queue, 2 workers, ${CHUNK_DAYS} days per job`, queueFloor, queueNightM);
    }

    console.table(rows);
    console.log(
      `lines ${floor?.lines} (total ${floor?.total} minor units) in both; target: night <= 3x the floor; load average ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
  } finally {
    for (const c of opened) await c.close();
    await redis.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
