/**
 * Ingest benchmark (issues 3 and 10, speed): 1,000,000 login events (10 tenants in different
 * zones, 5% repeats of earlier events) in two shapes, measured in one run:
 *   worst: 100,000 users per tenant and instants spread over a month at random, so nearly every
 *          event is a user-day of its own (one activity row per event);
 *   realistic: ~740 users per tenant logging in ~4.5 times per active day (1-8 on most days),
 *          the file in time order, so activity rows are far fewer than events.
 * For each shape
 *   (a) the floor: psql `\copy` of the same distinct FINISHED rows (the seven columns of
 *       login_events: tenant, event, user, instant, tenant-local day, source, time of receipt)
 *       into a bare table with the same primary key and collations,
 *   (a') the data model's floor: the same rows and their finished daily-activity rows copied
 *       into two bare tables with the two keys, one after the other and at once (ingest-floors.ts),
 *   (b) `billing ingest FILE` (a child process, DATABASE_URL set), with its peak RSS;
 * then, worst shape only,
 *   (c) HTTP: `billing serve` fed batches of 1,000 by a load generator in this process
 *       (8 requests in flight), with p50/p99 batch latency,
 *   (d) the Redis stream: the events XADDed as messages of 10 events (a producer batching a little), read by the stream
 *       consumer (consumer group, XACK after commit) until every message is acknowledged,
 *   (e) `billing ingest` of 5,000,000 events, for its rate and peak RSS (BENCH_BIG=0 skips it).
 * Each phase gets a fresh database on a durable local PostgreSQL (fsync on). The CLI measured is
 * the compiled one (`npm run build`, then `node dist/src/cli/main.js`), as production runs it.
 * BENCH_EVENTS, BENCH_BIG (0 = skip) and BENCH_BATCH (--batch-size) change the sizes; BENCH_PARTS
 * (a comma list of `file`, `http`, `stream`; default all) runs only those phases (the worst
 * shape's floor is always measured: every rate is printed next to it).
 *
 *   npm run bench -- ingest
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { openPostgres } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { startStreamConsumer } from '../../src/ingest/stream-consumer.ts';
import { TenantDayCache } from '../../src/ingest/tenant-day-cache.ts';
import { createLogger } from '../../src/logger.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { runProcess } from '../support/cli.ts';
import { freePort, type LocalPostgres, startLocalPostgres, startLocalRedis } from '../support/services.ts';
import { ActivityRows, copyFloor, modelFloor } from './ingest-floors.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// The compiled CLI, as production runs it (`npm run build` once per bench run): tsx would add
// ~60-90 MB of RSS and its own CPU to every figure.
const BIN = path.join(ROOT, 'dist/src/cli/main.js');
/** `--batch-size` of the measured import (events per transaction); unset = the CLI's default (10,000). */
const BATCH = process.env.BENCH_BATCH;
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BIG = Number(process.env.BENCH_BIG ?? 5_000_000);
const PARTS = new Set((process.env.BENCH_PARTS ?? 'file,http,stream').split(',').map((p) => p.trim()));
/**
 * CPU seconds (user + system) the PostgreSQL server has used so far: the postmaster, its live
 * children and the children it has reaped (cutime + cstime), from /proc. A phase's difference
 * is the database's CPU for that phase (nothing else uses the bench's server meanwhile).
 */
function postgresCpuSeconds(server: LocalPostgres): number {
  const pid = Number(readFileSync(path.join(server.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const stat = (p: number) => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const own = stat(pid);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const f = stat(Number(entry));
      if (Number(f[1]) === pid) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile: counted in the postmaster's cutime
    }
  }
  return ticks / 100;
}

/** CPU seconds (user + system) of a process so far, from /proc (clock ticks of 10 ms). */
const cpuSecondsOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
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

type Shape = (i: number) => Ev;

/**
 * Event i of a shape: event 20k+19 repeats event 20k+5 (5% duplicates, same content); a
 * multiplicative hash of the position spreads ids (random-looking keys); the shape picks the
 * user and the instant from (position, hash).
 */
function shaped(i: number, user: (h: number) => number, instant: (n: number, h: number) => number): Ev {
  const n = i % 20 === 19 ? i - 14 : i;
  const h = (n * 2_654_435_761) >>> 0;
  return {
    eventId: `ev-${h.toString(36)}-${n.toString(36)}`,
    tenantId: TENANTS[n % 10]?.id as string,
    userId: `u${user(h)}`,
    occurredAt: new Date(START + instant(n, h)).toISOString(),
  };
}

/** Worst shape: 100,000 users per tenant and instants at random over a month. */
const eventAt: Shape = (i) =>
  shaped(
    i,
    (h) => h % 100_000,
    (_n, h) => h % MONTH_MS,
  );

/** Users per tenant of the realistic shape: 1M events / (10 tenants x 30 days x ~4.5 logins). */
const REAL_USERS = Math.max(1, Math.round(EVENTS / (10 * 30 * 4.5)));

/**
 * Realistic shape: instants in time order over a month, each tenant's events spread over
 * REAL_USERS users (~4.5 logins per user and day on average).
 */
const realisticEventAt: Shape = (i) =>
  shaped(
    i,
    (h) => h % REAL_USERS,
    (n) => Math.floor((n * MONTH_MS) / EVENTS),
  );

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

async function dropDatabase(server: LocalPostgres, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

/**
 * The data files of a shape: every event as NDJSON, the distinct ones as finished CSV rows, and
 * their daily-activity rows as finished CSV rows.
 */
async function writeShape(dir: string, name: string, shape: Shape) {
  const ndjson = path.join(dir, `${name}.ndjson`);
  const csv = path.join(dir, `${name}-distinct.csv`);
  const activityCsv = path.join(dir, `${name}-activity.csv`);
  await writeLines(ndjson, EVENTS, (i) => JSON.stringify(shape(i)));
  const days = new TenantDayCache();
  const zoneOf = new Map(TENANTS.map((t) => [t.id, t.zone]));
  const receivedAt = new Date().toISOString();
  const activity = new ActivityRows();
  let distinct = 0;
  await writeLines(csv, EVENTS, (i) => {
    if (i % 20 === 19) return undefined;
    distinct += 1;
    const e = shape(i);
    const day = days.dayOf(Date.parse(e.occurredAt), zoneOf.get(e.tenantId) as string);
    activity.add(e.tenantId, day, e.userId, e.occurredAt);
    return `${e.tenantId},${e.eventId},${e.userId},${e.occurredAt},${day},file,${receivedAt}`;
  });
  const lines = activity.lines(receivedAt);
  await writeLines(activityCsv, activity.size, () => lines.next().value ?? undefined);
  return { ndjson, csv, activityCsv, activityRows: activity.size, distinct };
}

/** CPU seconds (user + system) of this process's reaped children (the measured CLI), from /proc. */
const childrenCpuSeconds = () => {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[13]) + Number(fields[14])) / 100;
};

async function importFile(server: LocalPostgres, file: string, db: string) {
  const url = await freshDatabase(server, db);
  // BENCH_INGEST_PROF=DIR: a CPU profile of the import (node --cpu-prof), written when it exits.
  const prof = process.env.BENCH_INGEST_PROF;
  const profile = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const node0 = childrenCpuSeconds();
  const pg0 = postgresCpuSeconds(server);
  const t0 = performance.now();
  const r = await runProcess(
    process.execPath,
    [...profile, BIN, 'ingest', file, '--json', ...(BATCH ? ['--batch-size', BATCH] : [])],
    { env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'info' } },
  );
  const wall = (performance.now() - t0) / 1000;
  const nodeCpuUs = ((childrenCpuSeconds() - node0) * 1e6) / EVENTS;
  const pgCpuUs = ((postgresCpuSeconds(server) - pg0) * 1e6) / EVENTS;
  const log = r.stderr
    .split('\n')
    .filter((l) => l.includes('ingest finished'))
    .map((l) => JSON.parse(l) as { seconds: number; maxRssMb: number; eventsPerSecond: number })[0];
  if (!log) throw new Error(`ingest failed (${r.code}): ${r.stderr.slice(0, 2000)}`);
  const conn = await openPostgres(url, 1);
  const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM daily_activity`.execute(conn.db);
  // Rows a direct COPY wrote and then gave up (rolled back to its savepoint): dead tuples of
  // login_events (the import deletes and updates none). 0 = every direct COPY completed.
  const dead = await sql<{ n: string }>`
    SELECT n_dead_tup::text AS n FROM pg_stat_user_tables WHERE relname = 'login_events'`.execute(conn.db);
  await conn.close();
  return {
    wall,
    nodeCpuUs,
    pgCpuUs,
    ...log,
    counts: r.stdout.trim().split('\n').at(-1),
    activityRows: Number(rows[0]?.n),
    deadEventRows: Number(dead.rows[0]?.n),
  };
}

async function httpLoad(server: LocalPostgres) {
  const url = await freshDatabase(server, 'bench_http');
  const conn = await openPostgres(url, 1);
  const keys = new Map<string, string>();
  for (const t of TENANTS) keys.set(t.id, await createApiKey(conn.db, t.id));
  await conn.close();
  const port = await freePort();
  // BENCH_SERVE_PROF=DIR: a CPU profile of `serve` (node --cpu-prof), written when it exits.
  const prof = process.env.BENCH_SERVE_PROF;
  const profile = prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...profile, BIN, 'serve', '--port', String(port)], {
    env: {
      ...process.env,
      DATABASE_URL: url,
      LOG_LEVEL: 'warn',
    },
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
  const cpu0 = cpuSecondsOf(child.pid as number);
  const pg0 = postgresCpuSeconds(server);
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
  const serveCpuUs = ((cpuSecondsOf(child.pid as number) - cpu0) * 1e6) / (bodies.length * 1000);
  const pgCpuUs = ((postgresCpuSeconds(server) - pg0) * 1e6) / (bodies.length * 1000);
  // The server's own peak RSS (the goal bounds `serve`, not the load generator).
  const serveRssMb = Math.round(
    Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024,
  );
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
    serveRssMb,
    serveCpuUs,
    pgCpuUs,
  };
}

/** (d) The events through the Redis stream: XADD in messages of 10, consumed until all are acked. */
/** Events per stream message: one read of 1,000 messages is then one batch of 10,000 (the COPY path). */
const PER_MESSAGE = 10;

async function streamLoad(server: LocalPostgres) {
  const url = await freshDatabase(server, 'bench_stream');
  const redisServer = await startLocalRedis();
  const redis = new Redis(redisServer.url, { protocol: 2 });
  const stream = 'billing:login-events';
  try {
    let pipeline = redis.pipeline();
    let messages = 0;
    for (let i = 0; i < EVENTS; i += PER_MESSAGE) {
      const events = [];
      for (let k = i; k < Math.min(EVENTS, i + PER_MESSAGE); k++) events.push(eventAt(k));
      pipeline.xadd(stream, '*', 'events', JSON.stringify(events));
      messages += 1;
      if (messages % 1000 === 0) {
        await pipeline.exec();
        pipeline = redis.pipeline();
      }
    }
    await pipeline.exec();
    const conn = await openPostgres(url, 4);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const pg0 = postgresCpuSeconds(server);
    const consumer = await startStreamConsumer({
      db: conn.db,
      redisUrl: redisServer.url,
      stream,
      group: 'billing',
      consumer: 'bench',
      logger: createLogger('warn'),
      blockMs: 100,
      ...(process.env.BENCH_STREAM_INFLIGHT ? { inFlight: Number(process.env.BENCH_STREAM_INFLIGHT) } : {}),
    });
    for (;;) {
      const groups = (await redis.call('XINFO', 'GROUPS', stream)) as unknown[][];
      const info = groups[0] as unknown[];
      const at = (k: string) => info[info.indexOf(k) + 1];
      if (Number(at('pending')) === 0 && Number(at('entries-read')) === messages) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const pgCpuUs = ((postgresCpuSeconds(server) - pg0) * 1e6) / EVENTS;
    await consumer.close();
    const { rows } = await sql<{ n: string }>`SELECT count(*)::text AS n FROM login_events`.execute(conn.db);
    await conn.close();
    // The consumer runs in this process: its CPU is this process's (the polling above is noise).
    const consumerCpuUs = (cpu.user + cpu.system) / EVENTS;
    return { rate: EVENTS / seconds, messages, stored: Number(rows[0]?.n), consumerCpuUs, pgCpuUs };
  } finally {
    redis.disconnect();
    await redisServer.stop();
  }
}

export async function run(): Promise<void> {
  const build = await runProcess('npm', ['run', 'build'], { env: process.env });
  if (build.code !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-ingest-bench-'));
  const server = await startLocalPostgres({ durable: true, sharedBuffers: '1GB' });
  try {
    console.log(`load average at start: ${loadavg()}; import batches of ${BATCH ?? 'the default (10,000)'}`);
    const shapes = [
      { name: 'worst', shape: eventAt, what: '100k users per tenant, one activity row per event' },
      {
        name: 'realistic',
        shape: realisticEventAt,
        what: `${REAL_USERS} users per tenant, ~4.5 logins per active user-day, in time order`,
      },
    ];
    /** The worst shape's floor: HTTP, the stream and the 5M import send the same events. */
    let worstFloor = 0;
    for (const { name, shape, what } of shapes) {
      const files = await writeShape(dir, name, shape);
      console.log(
        `[${name}] ${EVENTS} events (${files.distinct} distinct), 10 tenants, ${what}, 5% duplicates`,
      );
      const floor = await copyFloor(
        await freshDatabase(server, 'bench_copy'),
        files.csv,
        files.distinct,
        () => postgresCpuSeconds(server),
      );
      const copyRate = floor.rate;
      if (name === 'worst') worstFloor = copyRate;
      console.log(
        `  (a) COPY floor (psql \\copy of the ${files.distinct} distinct finished rows, PK): ${Math.round(copyRate)} rows/s, PostgreSQL CPU ${floor.pgCpuUs.toFixed(1)} µs/row`,
      );
      const model = await modelFloor(
        [await freshDatabase(server, 'bench_model_1'), await freshDatabase(server, 'bench_model_2')],
        files.csv,
        files.activityCsv,
        files.distinct,
        () => postgresCpuSeconds(server),
      );
      for (const db of ['bench_model_1', 'bench_model_2']) await dropDatabase(server, db);
      console.log(
        `  (a') the data model's floor (the same rows and their ${files.activityRows} finished activity rows, psql \\copy into two bare tables with the two keys): ` +
          `one after the other ${Math.round(model.sequential)} events/s (${(model.sequential / copyRate).toFixed(2)}x the COPY floor; PostgreSQL CPU ${model.sequentialPgCpuUs.toFixed(1)} µs/event), ` +
          `two sessions at once ${Math.round(model.concurrent)} events/s (${(model.concurrent / copyRate).toFixed(2)}x)`,
      );
      if (!PARTS.has('file')) break;
      const imp = await importFile(server, files.ndjson, 'bench_import');
      const rate = EVENTS / imp.seconds;
      console.log(
        `  (b) billing ingest (${EVENTS / 1e6}M): ${Math.round(rate)} events/s (${imp.seconds.toFixed(1)} s in the import, ${imp.wall.toFixed(1)} s wall with start-up), ` +
          `ratio to COPY ${(rate / copyRate).toFixed(2)} (to the model's floor ${(rate / model.sequential).toFixed(2)} / ${(rate / model.concurrent).toFixed(2)}), Node CPU ${imp.nodeCpuUs.toFixed(1)} µs/event (start-up included), PostgreSQL CPU ${imp.pgCpuUs.toFixed(1)} µs/event, peak RSS ${imp.maxRssMb} MB, counts ${imp.counts}, activity rows ${imp.activityRows}, login_events rows rolled back by given-up COPYs ${imp.deadEventRows}`,
      );
    }

    const http = PARTS.has('http') ? await httpLoad(server) : undefined;
    if (http)
      console.log(
        `(c) HTTP batches of 1,000, 8 in flight: ${Math.round(http.rate)} events/s (ratio to the worst shape's COPY floor ${(http.rate / worstFloor).toFixed(2)}), ` +
          `p50 ${http.p50.toFixed(0)} ms, p99 ${http.p99.toFixed(0)} ms, serve peak RSS ${http.serveRssMb} MB, serve CPU ${http.serveCpuUs.toFixed(1)} µs/event, PostgreSQL CPU ${http.pgCpuUs.toFixed(1)} µs/event ` +
          `(${http.batches} batches, accepted ${http.accepted}, duplicates ${http.duplicates})`,
      );

    const st = PARTS.has('stream') ? await streamLoad(server) : undefined;
    if (st)
      console.log(
        `(d) Redis stream, ${st.messages} messages of ${PER_MESSAGE} events, consumer group, XACK after commit: ${Math.round(st.rate)} events/s ` +
          `(ratio to the worst shape's COPY floor ${(st.rate / worstFloor).toFixed(2)}; consumer CPU ${st.consumerCpuUs.toFixed(1)} µs/event, PostgreSQL CPU ${st.pgCpuUs.toFixed(1)} µs/event; stored ${st.stored})`,
      );

    if (BIG > 0 && PARTS.has('file')) {
      const big = path.join(dir, 'big.ndjson');
      await writeLines(big, BIG, (i) => JSON.stringify(eventAt(i)));
      const b = await importFile(server, big, 'bench_big');
      console.log(
        `(e) billing ingest (${BIG / 1e6}M): ${Math.round(BIG / b.seconds)} events/s ` +
          `(ratio to the worst shape's 1M COPY floor ${(BIG / b.seconds / worstFloor).toFixed(2)}), peak RSS ${b.maxRssMb} MB, counts ${b.counts}`,
      );
    }
    console.log(`load average at end: ${loadavg()}`);
    console.log(
      'limits measured on this machine (idle): COPY with PK 217k rows/s; unnest+rollup 50k batches 69k ev/s; staging+rollup 1M batch 101k ev/s',
    );
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
