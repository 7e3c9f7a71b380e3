/**
 * Settings import benchmark (issue 10): `billing users import` of BENCH_VERSIONS settings
 * versions (default 1,000,000: one per user, effective two months back, 40 settings shapes, a
 * few skills each) on a durable PostgreSQL (fsync on, shared_buffers 1 GB), against the floor
 * measured in the same run:
 *
 * (a) floor: COPY of the same rows (key + jsonb settings) into a table with the same primary key;
 * (b) Node alone: the file read, split, parsed, validated and resolved in-process with the
 *     import's own functions, no database (what Node costs per version);
 * (c) `billing users import FILE`, compiled as the production image runs it, wall time and peak
 *     RSS from /usr/bin/time -v; the license intervals and day marks are written as in production;
 * (a') the data model's floor: the finished versions and intervals (c) wrote, copied by psql into
 *     bare tables of the same shape (settings-model-floor.ts);
 * (d) a second file of the same users, each with a version back-dated by a day, and (e) one
 *     back-dated by ten years: both split every user's interval; (e) must cost what (d) does.
 *
 *   npm run bench -- settings              (BENCH_VERSIONS=200000 for a quick look;
 *                                           BENCH_CPU_PROF=DIR for the CLI's V8 CPU profiles;
 *                                           BENCH_NEW_ONLY=1 for (a)-(c) only;
 *                                           BENCH_EXPERIMENT_SQL=SQL run after the migrations,
 *                                           e.g. an index dropped, to measure what it costs)
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { CompiledQuery, sql } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import { openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { eachChunkLines, isBadLine, parseJsonLine } from '../../src/ingest/line-source.ts';
import { LicenseShapes, parseSettingsVersionLine } from '../../src/ingest/settings-import.service.ts';
import { startLocalPostgres } from '../support/services.ts';
import { buildDist } from './build-dist.ts';
import { settingsModelFloor } from './settings-model-floor.ts';
import { runTimed } from './timed-process.ts';

const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 1_000_000);
const TENANT = 'big';
const NOW = Date.now();
const DAY_MS = 86_400_000;
const ROLES = ['user', 'team_leader', 'administrator'];
const PERMS = [
  [],
  ['communication'],
  ['dashboard'],
  ['communication', 'statistics'],
  ['workspace'],
  ['api'],
  ['team'],
  ['communication', 'workflow'],
];

/** Version i of user i, `backMs` before now (40 shapes: role x permissions x tracking, a few skills). */
function versionLine(i: number, backMs: number): string {
  return JSON.stringify({
    tenantId: TENANT,
    userId: `u${String(i).padStart(7, '0')}`,
    effectiveAt: new Date(NOW - backMs - (i % 1000) * 1000).toISOString(),
    email: `user${i}@big.example`,
    lastName: `User ${i}`,
    role: ROLES[i % 3],
    permissions: PERMS[i % 8],
    trackStatistics: i % 5 === 0,
    skills: i % 4 === 0 ? ['cz-voice', 'sk-voice'] : ['en-voice'],
    recordCalls: i % 10 < 3,
    billing: i % 2 === 0 ? 'daily' : 'monthly',
  });
}

async function writeFile(file: string, backMs: number): Promise<void> {
  const out = createWriteStream(file);
  let chunk = '';
  for (let i = 1; i <= VERSIONS; i++) {
    chunk += `${versionLine(i, backMs)}\n`;
    if (i % 10_000 === 0) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await finished(out);
}

/**
 * CPU seconds the PostgreSQL server has spent so far (postmaster, its live children, and the
 * children it reaped, exited backends included), from /proc: what a run costs the server whatever
 * else shares the machine. NaN without /proc.
 */
function serverCpuSeconds(postmasterPid: number): number {
  const fields = (pid: string | number) =>
    readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  try {
    const own = fields(postmasterPid);
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const f = fields(pid);
        if (Number(f[1]) === postmasterPid) ticks += Number(f[11]) + Number(f[12]);
      } catch {
        // gone meanwhile
      }
    }
    return ticks / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * The server's CPU split by process kind over a run: the postmaster's children are sampled every
 * 50 ms from /proc (utime + stime and the process title), and each one's last sample counts, so a
 * backend that exits keeps its CPU (up to 50 ms of it lost). `backend`: client connections (the
 * import's own), `autovacuum`: autovacuum workers, `other`: WAL writer, checkpointer, ...
 */
function sampleServerCpu(
  postmasterPid: number,
): () => { backend: number; autovacuum: number; other: number } {
  const seen = new Map<string, { kind: 'backend' | 'autovacuum' | 'other'; first: number; last: number }>();
  const sample = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        if (Number(f[1]) !== postmasterPid) continue;
        const ticks = Number(f[11]) + Number(f[12]);
        const known = seen.get(pid);
        if (known) {
          known.last = ticks;
          continue;
        }
        const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const kind = /autovacuum worker/.test(title)
          ? 'autovacuum'
          : /postgres: \S+ \S+ (\[local\]|\d)/.test(title)
            ? 'backend'
            : 'other';
        // A process born during the run started from zero; one alive before counts from now.
        seen.set(pid, { kind, first: kind === 'other' ? ticks : 0, last: ticks });
      } catch {
        // gone meanwhile
      }
    }
  };
  sample();
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    const sum = { backend: 0, autovacuum: 0, other: 0 };
    for (const p of seen.values()) sum[p.kind] += (p.last - p.first) / 100;
    return sum;
  };
}

/** The postmaster's pid (the parent of the checkpointer), for `serverCpuSeconds`. */
async function postmasterPid(db: Db): Promise<number> {
  const { rows } = await sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`.execute(db);
  try {
    return Number(readFileSync(`/proc/${rows[0]?.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
  } catch {
    return Number.NaN;
  }
}

/** (a) COPY the same rows (key + jsonb) into a table with the same primary key: wall and server CPU seconds. */
async function floorCopy(
  url: string,
  file: string,
  pmPid: number,
): Promise<{ seconds: number; cpu: number }> {
  const conn = await openPostgres(url, 1);
  try {
    await sql`DROP TABLE IF EXISTS floor_versions`.execute(conn.db);
    await sql`CREATE TABLE floor_versions (tenant_id text COLLATE "C" NOT NULL, user_id text COLLATE "C" NOT NULL,
      effective_at timestamptz NOT NULL, settings jsonb NOT NULL, PRIMARY KEY (tenant_id, user_id, effective_at))`.execute(
      conn.db,
    );
    // The COPY text is made before the clock starts: the floor is the server's work alone.
    const rows: string[] = [];
    await eachChunkLines(
      createReadStream(file),
      () => {},
      (line) => {
        if (isBadLine(line)) return;
        const v = JSON.parse(line.text) as Record<string, unknown>;
        const { tenantId, userId, effectiveAt, ...settings } = v;
        rows.push(
          `${tenantId}\t${userId}\t${effectiveAt}\t${JSON.stringify(settings).replace(/\\/g, '\\\\')}\n`,
        );
      },
      async () => true,
    );
    const t0 = performance.now();
    const cpu0 = serverCpuSeconds(pmPid);
    await conn.db.connection().execute(async (c) => {
      await c.transaction().execute(async (trx) => {
        const stream = copyFrom('COPY floor_versions FROM STDIN');
        const done = finished(stream);
        await trx.executeQuery({ ...CompiledQuery.raw(''), sql: stream as unknown as string });
        for (let i = 0; i < rows.length; i += 2000) {
          if (!stream.write(rows.slice(i, i + 2000).join('')))
            await Promise.race([once(stream, 'drain'), done]);
        }
        stream.end();
        await done;
      });
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = serverCpuSeconds(pmPid) - cpu0;
    await sql`DROP TABLE floor_versions`.execute(conn.db);
    await sql`CHECKPOINT`.execute(conn.db);
    return { seconds, cpu };
  } finally {
    await conn.close();
  }
}

/** (b) Node's share: every line split, parsed, validated and resolved as the import does, no database. */
async function nodeOnly(file: string): Promise<number> {
  const shapes = new LicenseShapes();
  let good = 0;
  const t0 = performance.now();
  await eachChunkLines(
    createReadStream(file),
    () => {},
    (line) => {
      if (isBadLine(line)) return;
      const json = parseJsonLine(line.text);
      if (json.ok && parseSettingsVersionLine(json.value, shapes).ok) good += 1;
    },
    async () => true,
  );
  if (good !== VERSIONS) throw new Error(`parsed ${good} of ${VERSIONS}`);
  return (performance.now() - t0) / 1000;
}

interface CliRun {
  seconds: number;
  peakRssMb: number;
  /** CPU µs per version: the CLI process, and the server over the same run. */
  nodeCpuUs: number;
  serverCpuUs: number;
  /** The server's share split: the import's backend, autovacuum workers, the rest (µs per version). */
  split: { backend: number; autovacuum: number; other: number };
  out: string;
}

async function usersImport(url: string, entry: string, file: string, pmPid: number): Promise<CliRun> {
  const cpu0 = serverCpuSeconds(pmPid);
  const stopSampling = sampleServerCpu(pmPid);
  // BENCH_CPU_PROF=DIR: the CLI writes a V8 CPU profile there (node --cpu-prof), per import.
  const prof = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const r = await runTimed([...prof, entry, 'users', 'import', file, '--json'], {
    DATABASE_URL: url,
    LOG_LEVEL: 'warn',
  });
  if (r.code !== 0) throw new Error(`users import exited ${r.code}: ${r.stdout}${r.stderr.slice(-2000)}`);
  const serverCpu = serverCpuSeconds(pmPid) - cpu0;
  const split = stopSampling();
  const us = (seconds: number) => (seconds / VERSIONS) * 1e6;
  return {
    split: { backend: us(split.backend), autovacuum: us(split.autovacuum), other: us(split.other) },
    seconds: r.seconds,
    peakRssMb: r.peakRssMb,
    nodeCpuUs: (r.cpuSeconds / VERSIONS) * 1e6,
    serverCpuUs: (serverCpu / VERSIONS) * 1e6,
    out: r.stdout.trim().split('\n').at(-1) ?? '',
  };
}

const f2 = (n: number) => n.toFixed(2);
const loadAverage = () => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return '?';
  }
};
const splitText = (r: CliRun) =>
  `the import's backend ${f2(r.split.backend)} µs/version, autovacuum ${f2(r.split.autovacuum)}, WAL writer, checkpointer and the rest ${f2(r.split.other)}`;
const rate = (s: number) => Math.round(VERSIONS / s).toLocaleString('en-US');

export async function run(): Promise<void> {
  const pgServer = await startLocalPostgres({ durable: true, sharedBuffers: '1GB' });
  const conn = await openPostgres(pgServer.url, 1);
  const dir = mkdtempSync(path.join(tmpdir(), 'settings-import-bench-'));
  try {
    const entry = await buildDist(dir);
    await migrateToLatest(conn.db);
    // BENCH_EXPERIMENT_SQL: a schema experiment (an index or trigger dropped) before anything is measured.
    if (process.env.BENCH_EXPERIMENT_SQL) await sql.raw(process.env.BENCH_EXPERIMENT_SQL).execute(conn.db);
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES (${TENANT}, 'Big', 'Europe/Prague', 'EUR')`.execute(
      conn.db,
    );
    const files = {
      twoMonths: path.join(dir, 'two-months.ndjson'),
      oneDay: path.join(dir, 'one-day.ndjson'),
      tenYears: path.join(dir, 'ten-years.ndjson'),
    };
    await writeFile(files.twoMonths, 61 * DAY_MS);
    await writeFile(files.oneDay, 1 * DAY_MS);
    await writeFile(files.tenYears, 3652 * DAY_MS);
    console.log(`${VERSIONS} versions per file, one per user; load average ${loadAverage()}`);
    const pm = await postmasterPid(conn.db);

    const { seconds: floor, cpu: floorCpu } = await floorCopy(pgServer.url, files.twoMonths, pm);
    const floorCpuUs = (floorCpu / VERSIONS) * 1e6;
    console.log(
      `(a) floor COPY (key + jsonb, same primary key): ${f2(floor)} s = ${rate(floor)} rows/s, server CPU ${f2(floorCpuUs)} µs/row`,
    );
    const node = await nodeOnly(files.twoMonths);
    console.log(
      `(b) Node alone (split, JSON.parse, validate, resolve): ${f2(node)} s = ${rate(node)} versions/s, ${f2((node / VERSIONS) * 1e6)} µs/version`,
    );
    const first = await usersImport(pgServer.url, entry, files.twoMonths, pm);
    console.log(
      `(c) billing users import (compiled), new users, 2 months back: ${f2(first.seconds)} s = ${rate(first.seconds)} versions/s, ${f2(floor / first.seconds)}x COPY, peak RSS ${f2(first.peakRssMb)} MB; ${first.out}`,
    );
    console.log(
      `    CPU per version: CLI ${f2(first.nodeCpuUs)} µs (Node alone (b) ${f2((node / VERSIONS) * 1e6)}), server ${f2(first.serverCpuUs)} µs (${f2(first.serverCpuUs / floorCpuUs)}x the floor's ${f2(floorCpuUs)} µs/row)`,
    );
    console.log(`    server split: ${splitText(first)}`);
    const model = await settingsModelFloor(pgServer.url, dir, () => serverCpuSeconds(pm));
    console.log(
      `(a') the data model's floor: the ${model.rows[0]} versions and ${model.rows[1]} license intervals (c) wrote, finished, psql \\copy into bare tables of the same shape (columns, keys, indexes; no trigger), one after the other: ` +
        `${f2(model.seconds)} s = ${rate(model.seconds)} versions/s (${f2(floor / model.seconds)}x the COPY floor), server CPU ${f2((model.cpu / VERSIONS) * 1e6)} µs/version; ` +
        `the import (c) at ${f2(model.seconds / first.seconds)}x of it`,
    );
    if (process.env.BENCH_NEW_ONLY === '1') {
      // BENCH_NEW_ONLY=1: the first import only ((a)-(c)), for quick comparisons.
      console.log(`load average at the end ${loadAverage()}`);
      return;
    }
    await sql`CHECKPOINT`.execute(conn.db);
    const day = await usersImport(pgServer.url, entry, files.oneDay, pm);
    console.log(
      `(d) every user back-dated by 1 day (before their version): ${f2(day.seconds)} s = ${rate(day.seconds)} versions/s, peak RSS ${f2(day.peakRssMb)} MB, CPU/version CLI ${f2(day.nodeCpuUs)} µs, server ${f2(day.serverCpuUs)} µs; ${day.out}`,
    );
    console.log(`    server split: ${splitText(day)}`);
    await sql`CHECKPOINT`.execute(conn.db);
    const years = await usersImport(pgServer.url, entry, files.tenYears, pm);
    console.log(
      `(e) every user back-dated by 10 years: ${f2(years.seconds)} s = ${rate(years.seconds)} versions/s (${f2(years.seconds / day.seconds)}x the 1-day file), peak RSS ${f2(years.peakRssMb)} MB, CPU/version CLI ${f2(years.nodeCpuUs)} µs, server ${f2(years.serverCpuUs)} µs; ${years.out}`,
    );
    console.log(`    server split: ${splitText(years)}`);
    const { rows } = await sql<{ v: string; i: string; m: string }>`
      SELECT (SELECT count(*) FROM settings_versions)::text AS v, (SELECT count(*) FROM license_intervals)::text AS i,
             (SELECT count(*) FROM day_marks)::text AS m`.execute(conn.db);
    console.log(
      `stored: ${rows[0]?.v} versions, ${rows[0]?.i} license intervals, ${rows[0]?.m} day-mark rows`,
    );
    console.log(`load average at the end ${loadAverage()}`);
    console.log(`\ntarget: >= 50,000 versions/s and >= 0.25x COPY, peak RSS < 200 MB`);
  } finally {
    await conn.close();
    await pgServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
