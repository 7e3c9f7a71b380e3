/**
 * What a settings version costs the import's PostgreSQL backend, by batch size and by index
 * (issue 10): `importSettingsFile` run in process on BENCH_VERSIONS new users (default 200,000),
 * the backend's utime + stime read from /proc before and after (one connection: the import's
 * only backend), Node's own CPU beside it. Variants run in turns (two rounds) on emptied tables,
 * so the machine's load drifts over all of them alike.
 *
 *   npm run bench -- settings-server-cpu      (BENCH_VERSIONS=N; BENCH_VARIANTS=0,2 only those;
 *                                              BENCH_ROUNDS=N; BENCH_STATES=SECONDS to sample the
 *                                              backend's state every ms for that long)
 *
 * Each line also gives Node's mean event-loop delay: how long a server response waits for Node.
 */
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { finished } from 'node:stream/promises';
import { sql } from 'kysely';
import { openPostgres } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { startLocalPostgres } from '../support/services.ts';

const VERSIONS = Number(process.env.BENCH_VERSIONS ?? 200_000);
const ROLES = ['user', 'team_leader', 'administrator'];
const PERMS = [[], ['communication'], ['dashboard'], ['communication', 'statistics'], ['workspace']];

interface Variant {
  name: string;
  batchSize: number;
  /** Indexes dropped for this variant (created again after it). */
  without?: { index: string; create: string };
}

const TENANT_EFFECTIVE = {
  index: 'settings_versions_tenant_effective',
  create: 'CREATE INDEX settings_versions_tenant_effective ON settings_versions (tenant_id, effective_at)',
};

const ALL_VARIANTS: Variant[] = [
  { name: 'batches of 2,000 (now)', batchSize: 2_000 },
  { name: 'batches of 5,000', batchSize: 5_000 },
  { name: 'batches of 10,000', batchSize: 10_000 },
  {
    name: 'batches of 2,000, without (tenant_id, effective_at)',
    batchSize: 2_000,
    without: TENANT_EFFECTIVE,
  },
];

/** BENCH_VARIANTS=0,1: only those (positions in the list above); default all. */
const VARIANTS = process.env.BENCH_VARIANTS
  ? process.env.BENCH_VARIANTS.split(',').map((i) => ALL_VARIANTS[Number(i)] as Variant)
  : ALL_VARIANTS;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);

async function writeFile(file: string): Promise<void> {
  const out = createWriteStream(file);
  const now = Date.now();
  for (let i = 0; i < VERSIONS; i++) {
    const line = JSON.stringify({
      tenantId: 'big',
      userId: `u${String(i).padStart(7, '0')}`,
      effectiveAt: new Date(now - 61 * 86_400_000 - (i % 1000) * 1000).toISOString(),
      email: `user${i}@big.example`,
      lastName: `User ${i}`,
      role: ROLES[i % 3],
      permissions: PERMS[i % 5],
      trackStatistics: i % 5 === 0,
      skills: ['cz-voice', 'sk-voice'].slice(0, i % 3),
      recordCalls: i % 2 === 0,
      billing: 'monthly',
    });
    if (!out.write(`${line}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  out.end();
  await finished(out);
}

/** utime and stime of a process, in seconds. */
const cpuOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
};

/**
 * Samples the import backend's state every millisecond from another backend (a server-side loop:
 * Node's event loop, busy parsing, cannot bias it) until `stop` is set: the share of samples
 * `active` (working, or reading COPY data), `idle in transaction` (waiting for Node's next
 * statement: round-trip latency) and `idle` (waiting for Node's next batch).
 */
async function sampleStates(url: string, pid: number, seconds: number): Promise<Record<string, number>> {
  const conn = await openPostgres(url, 1);
  try {
    await sql`CREATE TEMP TABLE samples (state text)`.execute(conn.db);
    await sql`CREATE FUNCTION pg_temp.sample(p int, n int) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1..n LOOP
          PERFORM pg_stat_clear_snapshot();
          INSERT INTO samples SELECT a.state || coalesce('/' || a.wait_event, '') FROM pg_stat_activity a WHERE a.pid = p;
          PERFORM pg_sleep(0.001);
        END LOOP;
      END $$`.execute(conn.db);
    await sql`SELECT pg_temp.sample(${pid}, ${Math.round(seconds * 700)})`.execute(conn.db);
    const { rows } = await sql<{ state: string; n: number }>`
      SELECT state, count(*)::int AS n FROM samples GROUP BY state`.execute(conn.db);
    const total = rows.reduce((a, r) => a + r.n, 0);
    return Object.fromEntries(rows.map((r) => [String(r.state), Math.round((1000 * r.n) / total) / 10]));
  } finally {
    await conn.close();
  }
}

async function once(
  db: Db,
  file: string,
  v: Variant,
  url?: string,
): Promise<{
  backend: number;
  backendSys: number;
  node: number;
  wall: number;
  states?: Record<string, number>;
  loopDelayMs: number;
}> {
  await sql`TRUNCATE settings_versions, license_intervals, day_marks`.execute(db);
  if (v.without) await sql.raw(`DROP INDEX ${v.without.index}`).execute(db);
  await sql`CHECKPOINT`.execute(db);
  const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db);
  const pid = rows[0]?.pid as number;
  const b0 = cpuOf(pid);
  const n0 = process.cpuUsage();
  const states = url ? sampleStates(url, pid, Number(process.env.BENCH_STATES)) : undefined;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t0 = performance.now();
  const r = await importSettingsFile(db, createReadStream(file), () => new Date(), {
    batchSize: v.batchSize,
  });
  const wall = (performance.now() - t0) / 1000;
  delay.disable();
  const n = process.cpuUsage(n0);
  const b1 = cpuOf(pid);
  if (r.stored !== VERSIONS) throw new Error(`stored ${r.stored} of ${VERSIONS}`);
  if (v.without) await sql.raw(v.without.create).execute(db);
  const us = (s: number) => (s / VERSIONS) * 1e6;
  return {
    backend: us(b1.user + b1.sys - b0.user - b0.sys),
    backendSys: us(b1.sys - b0.sys),
    node: us((n.user + n.system) / 1e6),
    wall,
    states: states ? await states : undefined,
    loopDelayMs: delay.mean / 1e6,
  };
}

const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export async function run(): Promise<void> {
  const pg = await startLocalPostgres({ durable: true, sharedBuffers: '1GB' });
  const conn = await openPostgres(pg.url, 1);
  const dir = mkdtempSync(path.join(tmpdir(), 'settings-server-cpu-'));
  try {
    await migrateToLatest(conn.db);
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('big', 'Big', 'Europe/Prague', 'EUR')`.execute(
      conn.db,
    );
    const file = path.join(dir, 'versions.ndjson');
    await writeFile(file);
    console.log(`${VERSIONS} new users, one version each; load average ${loadAverage()}`);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of VARIANTS) {
        const r = await once(conn.db, file, v, process.env.BENCH_STATES ? pg.url : undefined);
        console.log(
          `round ${round}, ${v.name}: backend ${r.backend.toFixed(2)} µs/version (of which system ${r.backendSys.toFixed(2)}), Node ${r.node.toFixed(2)} µs/version, wall ${((r.wall / VERSIONS) * 1e6).toFixed(2)} µs/version, event-loop delay mean ${r.loopDelayMs.toFixed(2)} ms = ${Math.round(VERSIONS / r.wall).toLocaleString('en-US')} versions/s (load ${loadAverage()})${r.states ? `; backend states (% of samples) ${JSON.stringify(r.states)}` : ''}`,
        );
      }
    }
  } finally {
    await conn.close();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
