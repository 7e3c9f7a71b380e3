/**
 * Ingest benchmark (issue 3, speed): the same 1,000,000 login events (10 tenants in different
 * zones, 100,000 users, 5% repeats of earlier events) measured in one run as
 *   (a) the floor: psql `\copy` of the distinct events into a bare table with the same primary key,
 *   (b) `billing ingest FILE` (a child process, DATABASE_URL set), with its peak RSS,
 *   (c) HTTP: `billing serve` fed batches of 1,000 by a load generator in this process
 *       (8 requests in flight), with p50/p99 batch latency,
 * then the peak RSS of `billing ingest` of 5,000,000 events (BENCH_BIG=0 skips it).
 * Each phase gets a fresh database on a durable local PostgreSQL (fsync on). The CLI measured is
 * the compiled one (`npm run build`, then `node dist/src/cli/main.js`), as production runs it.
 * BENCH_EVENTS, BENCH_BIG (0 = skip) and BENCH_BATCH (--batch-size) change the sizes.
 *
 *   npm run bench -- ingest
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openPostgres } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { runProcess } from '../support/cli.ts';
import { freePort, type LocalPostgres, startLocalPostgres } from '../support/services.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The compiled CLI, as production runs it (`npm run build` once per bench run): tsx would add
// ~60-90 MB of RSS and its own CPU to every figure.
const BIN = path.join(ROOT, 'dist/src/cli/main.js');
/** `--batch-size` of the measured import (events per transaction); unset = the CLI's default (10,000). */
const BATCH = process.env.BENCH_BATCH;
const PSQL = '/usr/lib/postgresql/15/bin/psql';
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BIG = Number(process.env.BENCH_BIG ?? 5_000_000);
const ZONES = [
  'Europe/Prague',
  'America/New_York',
  'Asia/Kolkata',
  'Australia/Sydney',
  'America/Los_Angeles',
  'Asia/Tokyo',
  'Europe/London',
  'America/Sao_Paulo',
  'Asia/Kathmandu',
  'Pacific/Auckland',
];
const TENANTS = ZONES.map((zone, i) => ({ id: `t${i}`, zone }));
const START = Date.UTC(2026, 9, 1);
const MONTH_MS = 30 * 86_400_000;

interface Ev {
  eventId: string;
  tenantId: string;
  userId: string;
  occurredAt: string;
}

/** Event i of the data set: event 20k+19 repeats event 20k+5 (5% duplicates, same content). */
function eventAt(i: number): Ev {
  const n = i % 20 === 19 ? i - 14 : i;
  // A multiplicative hash spreads ids, users and instants like real traffic (random-looking keys).
  const h = (n * 2_654_435_761) >>> 0;
  return {
    eventId: `ev-${h.toString(36)}-${n.toString(36)}`,
    tenantId: TENANTS[n % 10]?.id as string,
    userId: `u${h % 100_000}`,
    occurredAt: new Date(START + (h % MONTH_MS)).toISOString(),
  };
}

/** The machine is shared: every figure is printed next to the load it was measured under. */
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();

async function writeLines(
  file: string,
  count: number,
  line: (i: number) => string | undefined,
): Promise<void> {
  const out = createWriteStream(file);
  let buf = '';
  for (let i = 0; i < count; i++) {
    const l = line(i);
    if (l !== undefined) buf += `${l}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((r) => out.once('drain', () => r()));
      buf = '';
    }
  }
  out.end(buf);
  await new Promise<void>((r) => out.on('finish', () => r()));
}

async function freshDatabase(server: LocalPostgres, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  const url = u.toString();
  const conn = await openPostgres(url, 2);
  await migrateToLatest(conn.db);
  for (const t of TENANTS)
    await addTenant(conn.db, { id: t.id, name: t.id, timezone: t.zone, currency: 'EUR' });
  await conn.close();
  return url;
}

async function copyFloor(server: LocalPostgres, csv: string, rows: number): Promise<number> {
  const url = await freshDatabase(server, 'bench_copy');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE TABLE bare (tenant_id text COLLATE "C", event_id text COLLATE "C", user_id text COLLATE "C",
    occurred_at timestamptz, PRIMARY KEY (tenant_id, event_id))`);
  await c.end();
  const t0 = performance.now();
  const r = await runProcess(PSQL, [url, '-c', `\\copy bare FROM '${csv}' WITH (FORMAT csv)`], {
    env: process.env,
  });
  const s = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return rows / s;
}

async function importFile(server: LocalPostgres, file: string, db: string) {
  const url = await freshDatabase(server, db);
  const t0 = performance.now();
  const r = await runProcess(
    process.execPath,
    [BIN, 'ingest', file, '--json', ...(BATCH ? ['--batch-size', BATCH] : [])],
    { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'info' } },
  );
  const wall = (performance.now() - t0) / 1000;
  const log = r.stderr
    .split('\n')
    .filter((l) => l.includes('ingest finished'))
    .map((l) => JSON.parse(l) as { seconds: number; maxRssMb: number; eventsPerSecond: number })[0];
  if (!log) throw new Error(`ingest failed (${r.code}): ${r.stderr.slice(0, 2000)}`);
  return { wall, ...log, counts: r.stdout.trim().split('\n').at(-1) };
}

async function httpLoad(server: LocalPostgres) {
  const url = await freshDatabase(server, 'bench_http');
  const conn = await openPostgres(url, 1);
  const keys = new Map<string, string>();
  for (const t of TENANTS) keys.set(t.id, await createApiKey(conn.db, t.id));
  await conn.close();
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
    env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (
      await fetch(`${base}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // Batches of 1,000 events of one tenant (a key writes its own tenant only).
  const perTenant = new Map<string, Ev[]>(TENANTS.map((t) => [t.id, []]));
  const bodies: { key: string; body: string }[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const e = eventAt(i);
    const list = perTenant.get(e.tenantId) as Ev[];
    list.push(e);
    if (list.length === 1000) {
      bodies.push({ key: keys.get(e.tenantId) as string, body: JSON.stringify({ events: list }) });
      perTenant.set(e.tenantId, []);
    }
  }
  const latencies: number[] = [];
  let next = 0;
  let accepted = 0;
  let duplicates = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const b = bodies[next++] as { key: string; body: string };
      const s = performance.now();
      const res = await fetch(`${base}/v1/login-events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${b.key}`, 'content-type': 'application/json' },
        body: b.body,
      });
      const j = (await res.json()) as { accepted: number; duplicates: number };
      latencies.push(performance.now() - s);
      accepted += j.accepted;
      duplicates += j.duplicates;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] as number;
  return {
    rate: (bodies.length * 1000) / seconds,
    p50: q(0.5),
    p99: q(0.99),
    accepted,
    duplicates,
    batches: bodies.length,
  };
}

export async function run(): Promise<void> {
  const build = await runProcess('npm', ['run', 'build'], { env: process.env });
  if (build.code !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-ingest-bench-'));
  const server = await startLocalPostgres({ durable: true, sharedBuffers: '1GB' });
  try {
    const ndjson = path.join(dir, 'events.ndjson');
    const csv = path.join(dir, 'distinct.csv');
    await writeLines(ndjson, EVENTS, (i) => JSON.stringify(eventAt(i)));
    let distinct = 0;
    await writeLines(csv, EVENTS, (i) => {
      if (i % 20 === 19) return undefined;
      distinct += 1;
      const e = eventAt(i);
      return `${e.tenantId},${e.eventId},${e.userId},${e.occurredAt}`;
    });
    console.log(`load average at start: ${loadavg()}; import batches of ${BATCH ?? 'the default (10,000)'}`);
    console.log(`data: ${EVENTS} events (${distinct} distinct), 10 tenants, 100k users, 5% duplicates`);

    const copyRate = await copyFloor(server, csv, distinct);
    console.log(
      `(a) COPY floor (psql \\copy, ${distinct} distinct rows, PK):   ${Math.round(copyRate)} rows/s`,
    );

    const imp = await importFile(server, ndjson, 'bench_import');
    const rate = EVENTS / imp.seconds;
    console.log(
      `(b) billing ingest (${EVENTS / 1e6}M):   ${Math.round(rate)} events/s (${imp.seconds.toFixed(1)} s in the import, ${imp.wall.toFixed(1)} s wall with start-up), ` +
        `ratio to COPY ${(rate / copyRate).toFixed(2)}, peak RSS ${imp.maxRssMb} MB, counts ${imp.counts}`,
    );

    const http = await httpLoad(server);
    console.log(
      `(c) HTTP batches of 1,000, 8 in flight: ${Math.round(http.rate)} events/s, p50 ${http.p50.toFixed(0)} ms, p99 ${http.p99.toFixed(0)} ms ` +
        `(${http.batches} batches, accepted ${http.accepted}, duplicates ${http.duplicates})`,
    );

    if (BIG > 0) {
      const big = path.join(dir, 'big.ndjson');
      await writeLines(big, BIG, (i) => JSON.stringify(eventAt(i)));
      const b = await importFile(server, big, 'bench_big');
      console.log(
        `(d) billing ingest (${BIG / 1e6}M): ${Math.round(BIG / b.seconds)} events/s, peak RSS ${b.maxRssMb} MB, counts ${b.counts}`,
      );
    }
    console.log(`load average at end: ${loadavg()}`);
    console.log(
      'limits measured on this machine: COPY with PK 217k rows/s; unnest+rollup 50k batches 69k ev/s; staging+rollup 1M batch 101k ev/s',
    );
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
