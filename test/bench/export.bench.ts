/**
 * Export benchmark (issue 4, speed (c)): a month of charge lines of a 1,000,000-user tenant
 * (20% daily-billed, 40% of those active on a day, 30% recording), generated directly with SQL,
 * then the month's invoice rows kept as billing keeps them (`applyRunToMonthRows` per day, timed
 * beside the insert of the day's lines), then (i) the floor: the finished rows of the file in a
 * table of their own (`CREATE TABLE … AS` the export's row query), copied out sorted by
 * `COPY (SELECT … ORDER BY …) TO STDOUT` through psql into a file, and the same COPY by a bare
 * Node process (pg and pg-copy-streams, none of the program: the least a CLI written in Node
 * costs for these rows; its bytes checked equal to psql's); for comparison the export's
 * row query itself under COPY and its CSV cells query under COPY (FORMAT csv), both with JIT off as
 * the export runs them (`tuneForExport`); and (ii) `billing export --month … --tenant … --out FILE` as a child process, its peak RSS from
 * /usr/bin/time -v, in every way the command runs: compiled (`tsc -p tsconfig.build.json`, what
 * the production image runs), that build bundled (bin/bundle.js: what `billing` runs after
 * `npm ci` / `npm run build`) and from source through tsx (`node bin/billing.js` in a checkout,
 * which costs ~60 MB more for the loader alone). The RSS of `billing export --help` in the same
 * way is printed as the baseline of loading the program, its wall time as the program's start-up;
 * and (iii) `writeInvoiceCsv` called in the bench's own process, timed as the billing bench times
 * billDay (no start-up), checked to write as many bytes as the CLI. All write a file in the same
 * directory; they run one after the other, BENCH_ROUNDS times (default 1; the best time counts).
 *
 *   npm run bench -- export                  (BENCH_USERS=1000000 BENCH_DAYS=10 by default)
 *   BENCH_DAYS=30 npm run bench -- export    (the whole month: ~34M lines; generation alone ~6 min here)
 *
 * BENCH_HOLD=FILE: at the end, print the database's URL and keep it running while FILE exists
 * (to try plans and schema variants on the generated month with psql).
 */

import { spawn } from 'node:child_process';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import type { Db } from '../../src/db/database.ts';
import { inlineParameters } from '../../src/db/query-script.ts';
import { EXPORT_PLANNER_SETTINGS, tuneForExport } from '../../src/db/repositories/export-planner-settings.ts';
import { filePartsPlan, invoiceRowsQuery } from '../../src/db/repositories/invoice.repository.ts';
import { invoiceCsvCellsQuery } from '../../src/db/repositories/invoice-csv-copy.repository.ts';
import { applyRunToMonthRows } from '../../src/db/repositories/invoice-month-row.repository.ts';
import { monthBounds } from '../../src/domain/calendar.ts';
import { writeInvoiceCsv } from '../../src/export/invoice-csv.ts';
import { benchScale, fillBenchRun, insertBenchTenant, withBenchDatabase } from './bench-database.ts';
import { buildDist, bundleDist } from './build-dist.ts';
import { median } from './stats.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/billing.js');
const PSQL = '/usr/lib/postgresql/15/bin/psql';
const { users: USERS, days: DAYS, rounds: ROUNDS, month: MONTH, zone: TZ } = benchScale(1);
const TENANT = 'big';
/** The export's queries run with its planner settings (`tuneForExport`); so do their COPYs here. The floor keeps the server's settings. */
const EXPORT_SETTINGS = EXPORT_PLANNER_SETTINGS.map((s) => `SET ${s}`).join('; ');

/**
 * The floor's COPY by a bare Node process: the `pg` client and `pg-copy-streams` the export
 * loads, nothing of the program. What a Node process costs at the least for the same rows (the
 * runtime's start and exit, loading pg, receiving and writing the bytes in JavaScript), beside
 * psql's: a CLI written in Node cannot come under it. Written into `dir`, importing the
 * packages from this checkout by absolute URL.
 */
function writeNodeCopyScript(dir: string, copySql: string): string {
  const module = (p: string) => JSON.stringify(pathToFileURL(path.join(ROOT, 'node_modules', p)).href);
  const script = path.join(dir, 'node-copy.mjs');
  writeFileSync(
    script,
    `import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import pg from ${module('pg/esm/index.mjs')};
import { to } from ${module('pg-copy-streams/index.js')};
const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
await client.connect();
await pipeline(client.query(to(${JSON.stringify(copySql)})), createWriteStream(process.argv[2]));
await client.end();
`,
  );
  return script;
}

interface Measured {
  seconds: number;
  /** User + system CPU seconds of the command itself (the client: psql or node), from time -v. */
  cpuSeconds: number | undefined;
  peakRssMb: number | undefined;
  bytes: number;
  records: number;
}

/** Runs a command with stdout into `outFile`, under /usr/bin/time -v when present. */
function measure(
  cmd: string,
  args: string[],
  outFile: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const fd = openSync(outFile, 'w');
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-v', cmd, ...args], { stdio: ['ignore', fd, 'pipe'], env });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(fd);
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}: ${stderr.slice(-2000)}`));
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
      const system = /System time \(seconds\): ([\d.]+)/.exec(stderr);
      const cpuSeconds = user && system ? Number(user[1]) + Number(system[1]) : undefined;
      resolve({
        seconds,
        cpuSeconds,
        peakRssMb: rss ? Number(rss[1]) / 1024 : undefined,
        bytes: 0,
        records: 0,
      });
    });
  });
}

/** Size and record count (CRLF or LF ends) of a CSV file, read in one go (it is a bench). */
function fileStats(file: string): { bytes: number; records: number } {
  const data = readFileSync(file);
  let records = 0;
  for (const b of data) if (b === 0x0a) records++;
  return { bytes: data.length, records };
}

export async function run(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-export-bench-'));
  try {
    await withBenchDatabase({ poolSize: 2, sharedBuffers: '1GB' }, (db, url) =>
      generateAndMeasure(db, url, dir),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function generateAndMeasure(db: Db, url: string, dir: string): Promise<void> {
  {
    await insertBenchTenant(db, TENANT, 'Big');
    // Names: one settings version per user, effective before the month.
    await sql`
      INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name, settings,
                                     license, billing, record_calls, reasons)
      SELECT ${TENANT}, 'u' || lpad(i::text, 7, '0'), '2026-10-01T00:00:00Z', true,
             'u' || i || '@big.example', 'Surname ' || i, '{}', 'standard',
             CASE WHEN i % 5 = 0 THEN 'daily' ELSE 'monthly' END, i % 10 < 3, '[]'
      FROM generate_series(0, ${USERS - 1}) i`.execute(db);
    // Every line a user can have on a day, once: users i % 5 = 0 bill daily (license.professional),
    // the rest monthly with four licenses; users i % 10 < 3 (30%) record calls. Each day then
    // copies the monthly lines with the spec's share floor(P*d/n) - floor(P*(d-1)/n) (n = 30)
    // and the daily lines of the users active that day (40%, a fixed hash of user and day).
    await sql`
      CREATE UNLOGGED TABLE bench_universe AS
      SELECT u.i, 'u' || lpad(u.i::text, 7, '0') AS user_id, x.item, u.billing, x.price
      FROM (SELECT i, CASE WHEN i % 5 = 0 THEN 'daily' ELSE 'monthly' END AS billing, i % 10 < 3 AS rec
            FROM generate_series(0, ${USERS - 1}) i) u
      CROSS JOIN LATERAL (
        SELECT 'license.' || CASE WHEN u.billing = 'daily' THEN 'professional'
               ELSE (ARRAY['dashboard','standard','professional','enterprise'])[u.i % 4 + 1] END AS item,
               CASE WHEN u.billing = 'daily' THEN 250 ELSE (ARRAY[500,1900,3900,5900])[u.i % 4 + 1] END AS price
        UNION ALL
        SELECT 'addon.recording', CASE WHEN u.billing = 'daily' THEN 50 ELSE 900 END WHERE u.rec
      ) x`.execute(db);
    // Loading without the primary key and adding it afterwards is what a bulk load does; the
    // export then runs against the real schema.
    await sql`ALTER TABLE charge_lines DROP CONSTRAINT charge_lines_pkey`.execute(db);
    const genStart = performance.now();
    let fillSeconds = 0;
    for (let d = 1; d <= DAYS; d++) {
      const day = `${MONTH}-${String(d).padStart(2, '0')}`;
      const { rows } = await sql<{ id: string }>`
        INSERT INTO runs (tenant_id, day, kind, trigger, is_current, input_revision, started_at, finished_at,
                          line_count, total, currency)
        VALUES (${TENANT}, ${day}::date, 'charge', 'schedule', true, 1, now(), now(), 0, 0, 'EUR') RETURNING id`.execute(
        db,
      );
      const runId = rows[0]?.id as string;
      const fillStart = performance.now();
      await fillBenchRun(db, runId, d, 40);
      fillSeconds += (performance.now() - fillStart) / 1000;
      process.stdout.write(
        `\rgenerating day ${d}/${DAYS} (${((performance.now() - genStart) / 1000).toFixed(0)} s)`,
      );
    }
    await sql`DROP TABLE bench_universe`.execute(db);
    await sql`ALTER TABLE charge_lines ADD PRIMARY KEY (run_id, user_id, item)`.execute(db);
    // The month rows as billing keeps them: each day's run applied in order, as each run's own
    // transaction does (the first day inserts the rows, every later day updates them).
    const applyStart = performance.now();
    const { rows: dayRuns } = await sql<{ id: string; day: string }>`
      SELECT id::text AS id, day::text AS day FROM runs WHERE tenant_id = ${TENANT} ORDER BY day`.execute(db);
    for (const r of dayRuns) {
      const t0 = performance.now();
      await applyRunToMonthRows(db, { tenantId: TENANT, day: r.day, addedRunId: r.id, removedRunId: null });
      process.stdout.write(
        `\rmonth rows: day ${r.day} applied in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
      );
    }
    const applySeconds = (performance.now() - applyStart) / 1000;
    await sql`VACUUM ANALYZE`.execute(db);
    await sql`CHECKPOINT`.execute(db);
    const { rows: counts } = await sql<{ lines: string; total: string }>`
      SELECT count(*)::text AS lines, sum(amount)::text AS total FROM charge_lines`.execute(db);
    const lines = Number(counts[0]?.lines);
    console.log(
      `\nmonth rows kept for ${dayRuns.length} days in ${applySeconds.toFixed(1)} s (${(applySeconds / dayRuns.length).toFixed(2)} s per day; inserting the days' lines (no index) took ${(fillSeconds / dayRuns.length).toFixed(2)} s per day)`,
    );
    console.log(
      `generated ${lines.toLocaleString('en')} lines (${USERS.toLocaleString('en')} users x ${DAYS} days) in ${((performance.now() - genStart) / 1000).toFixed(0)} s`,
    );

    // The part as the export plans it (`filePartsPlan`: the period is open, the month's base).
    const [tenantMonth] = await filePartsPlan(db, {
      month: MONTH,
      tenants: [{ tenantId: TENANT, periodEnd: monthBounds(MONTH, TZ).end }],
    });
    if (tenantMonth === undefined) throw new Error('no plan for the bench tenant');
    const compiled = invoiceRowsQuery(tenantMonth).compile(db);
    // The floor: the finished rows, exactly those of the file, in a table of their own, copied
    // out sorted. (COPY of the export's own query measures the design, not the limit.)
    const aggregateSql = inlineParameters(compiled.sql, compiled.parameters);
    await sql.raw(`CREATE TABLE bench_finished AS ${aggregateSql}`).execute(db);
    await sql`VACUUM ANALYZE bench_finished`.execute(db);
    const copySql = `COPY (SELECT * FROM bench_finished ORDER BY tenant_id COLLATE "C", user_id COLLATE "C",
      item COLLATE "C", billing COLLATE "C", first_day, unit_price) TO STDOUT WITH (FORMAT csv)`;
    const aggregateCopySql = `COPY (${aggregateSql}) TO STDOUT WITH (FORMAT csv)`;
    const formatted = invoiceCsvCellsQuery(tenantMonth).compile(db);
    const formattedCopySql = `COPY (${inlineParameters(formatted.sql, formatted.parameters)}) TO STDOUT (FORMAT csv)`;
    if (process.env.BENCH_EXPLAIN) {
      // As the export runs it: its planner settings in its transaction (`tuneForExport`).
      const plan = await db.transaction().execute(async (trx) => {
        await tuneForExport(trx);
        const explained = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS) ${sql.raw(
          inlineParameters(formatted.sql, formatted.parameters),
        )}`.execute(trx);
        return explained.rows;
      });
      console.log(plan.map((p) => p['QUERY PLAN']).join('\n'));
    }
    const copyFile = path.join(dir, 'copy.csv');
    const exportFile = path.join(dir, 'export.csv');
    const main = await buildDist(dir);
    const bundle = await bundleDist(dir, main);
    // BILLING_FROM_SOURCE: bin/billing.js (the tsx variant) would otherwise run a fresh dist/.
    const env = { ...process.env, DATABASE_URL: url, LOG_LEVEL: 'warn', BILLING_FROM_SOURCE: '1' };
    // The third variant caps V8's young generation (a runtime flag, no code change): most of the
    // export's RSS above the program's baseline is garbage V8 has not collected yet.
    const variants = [
      { name: 'compiled', argv: [main] },
      { name: 'bundled', argv: [bundle] },
      { name: 'tsx', argv: [BIN] },
    ];
    const baseline: Record<string, number | undefined> = {};
    const startup: Record<string, number> = {};
    for (const v of variants) {
      const help = await measure(process.execPath, [...v.argv, 'export', '--help'], '/dev/null', env);
      baseline[v.name] = help.peakRssMb;
      startup[v.name] = help.seconds;
    }
    const copies: Measured[] = [];
    const nodeCopies: Measured[] = [];
    const nodeCopyScript = writeNodeCopyScript(dir, copySql);
    const nodeCopyFile = path.join(dir, 'node-copy.csv');
    const aggregateCopies: Measured[] = [];
    const formattedCopies: Measured[] = [];
    const exports: Record<string, Measured[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
    const inProcessFile = path.join(dir, 'in-process.csv');
    const inProcess: Measured[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const c = await measure(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-c', copySql], copyFile);
      copies.push({ ...c, ...fileStats(copyFile) });
      const n = await measure(process.execPath, [nodeCopyScript, nodeCopyFile], '/dev/null', env);
      nodeCopies.push({ ...n, ...fileStats(nodeCopyFile) });
      if (!readFileSync(nodeCopyFile).equals(readFileSync(copyFile)))
        console.log('MISMATCH: the bare Node COPY wrote other bytes than psql');
      const a = await measure(
        PSQL,
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-c', EXPORT_SETTINGS, '-c', aggregateCopySql],
        copyFile,
      );
      aggregateCopies.push(a);
      const fq = await measure(
        PSQL,
        ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-c', EXPORT_SETTINGS, '-c', formattedCopySql],
        copyFile,
      );
      formattedCopies.push(fq);
      let line = `round ${round}: COPY of the finished rows ${c.seconds.toFixed(2)} s (bare Node ${n.seconds.toFixed(2)} s), COPY of the row query ${a.seconds.toFixed(2)} s, COPY of the export's cells query ${fq.seconds.toFixed(2)} s`;
      for (const v of variants) {
        const args = [...v.argv, 'export', '--month', MONTH, '--tenant', TENANT, '--out', exportFile];
        const e = await measure(process.execPath, args, '/dev/null', env);
        exports[v.name]?.push({ ...e, ...fileStats(exportFile) });
        line += `; export (${v.name}) ${e.seconds.toFixed(2)} s, peak RSS ${e.peakRssMb?.toFixed(0)} MB`;
      }
      // The export as billDay is timed in the billing bench: the call itself, in a process that
      // is already running (no Node start-up, no module loading), into a file of the same bytes.
      const t0 = performance.now();
      const out = createWriteStream(inProcessFile);
      const written = await writeInvoiceCsv(db, { month: MONTH, tenantId: TENANT }, out);
      out.end();
      await finished(out);
      inProcess.push({
        seconds: (performance.now() - t0) / 1000,
        cpuSeconds: undefined,
        peakRssMb: undefined,
        records: written.rows + 1,
        bytes: statSync(inProcessFile).size,
      });
      line += `; in process ${inProcess.at(-1)?.seconds.toFixed(2)} s`;
      console.log(line);
    }
    // BENCH_CPU_PROF=DIR: one more run of the bundled CLI (what `billing` runs) under `node --cpu-prof`, the profile in DIR.
    if (process.env.BENCH_CPU_PROF) {
      const args = ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF, bundle, 'export'];
      await measure(
        process.execPath,
        [...args, '--month', MONTH, '--tenant', TENANT, '--out', exportFile],
        '/dev/null',
        env,
      );
      console.log(`CPU profile of the bundled export written to ${process.env.BENCH_CPU_PROF}`);
    }
    const best = (ms: Measured[]) => ms.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    const copy = best(copies);
    const rows: Record<string, string | number>[] = [
      {
        what: 'COPY (finished rows, sorted) TO STDOUT via psql (floor)',
        seconds: copy.seconds.toFixed(2),
        ratio: '1.00',
        'client CPU s': copy.cpuSeconds?.toFixed(2) ?? '?',
        records: copy.records,
        MB: (copy.bytes / 1e6).toFixed(1),
        'peak RSS MB': '',
        'baseline RSS MB': '',
      },
    ];
    /** The row of a process that wrote the file: its best run, and its peak RSS over all runs. */
    const fileRow = (what: string, runs: Measured[], baselineRss: string) => {
      const m = best(runs);
      return {
        what,
        seconds: m.seconds.toFixed(2),
        ratio: (m.seconds / copy.seconds).toFixed(2),
        'client CPU s': m.cpuSeconds?.toFixed(2) ?? '?',
        records: m.records,
        MB: (m.bytes / 1e6).toFixed(1),
        'peak RSS MB': Math.max(...runs.map((r) => r.peakRssMb ?? Number.NaN)).toFixed(0),
        'baseline RSS MB': baselineRss,
      };
    };
    const nodeCopy = best(nodeCopies);
    rows.push(
      fileRow(
        'the same COPY by a bare Node process (pg + pg-copy-streams, none of the program): the least a Node CLI costs',
        nodeCopies,
        '',
      ),
    );
    const beside: [string, Measured[]][] = [
      ['COPY (the export row query: month rows + names) TO STDOUT via psql, JIT off', aggregateCopies],
      [
        "COPY (the export's own query: cells computed in SQL, money as minor units) TO STDOUT (FORMAT csv) via psql, JIT off",
        formattedCopies,
      ],
    ];
    for (const [what, measured] of beside) {
      const m = best(measured);
      rows.push({
        what,
        seconds: m.seconds.toFixed(2),
        ratio: (m.seconds / copy.seconds).toFixed(2),
        'client CPU s': m.cpuSeconds?.toFixed(2) ?? '?',
        records: '',
        MB: '',
        'peak RSS MB': '',
        'baseline RSS MB': '',
      });
    }
    for (const v of variants) {
      const runs = exports[v.name] as Measured[];
      const e = best(runs);
      rows.push(fileRow(`billing export --out FILE (${v.name})`, runs, baseline[v.name]?.toFixed(0) ?? '?'));
      // COPY writes no header; the export has exactly one record more.
      if (e.records !== copy.records + 1)
        console.log(`MISMATCH: export ${e.records} records, COPY ${copy.records}`);
      rows.push({
        what: `  of which start-up: \`billing export --help\` (${v.name})`,
        seconds: (startup[v.name] as number).toFixed(2),
        ratio: ((startup[v.name] as number) / copy.seconds).toFixed(2),
        'client CPU s': '',
        records: '',
        MB: '',
        'peak RSS MB': '',
        'baseline RSS MB': '',
      });
    }
    const ip = best(inProcess);
    rows.push({
      what: 'the export in process (writeInvoiceCsv timed as billDay is, no start-up)',
      seconds: ip.seconds.toFixed(2),
      ratio: (ip.seconds / copy.seconds).toFixed(2),
      'client CPU s': '',
      records: ip.records,
      MB: (ip.bytes / 1e6).toFixed(1),
      'peak RSS MB': '',
      'baseline RSS MB': '',
    });
    const cli = best(exports.bundled as Measured[]);
    if (ip.bytes !== cli.bytes) console.log(`MISMATCH: in process ${ip.bytes} bytes, CLI ${cli.bytes}`);
    console.table(rows);
    console.log(
      `lines ${lines.toLocaleString('en')}, line total ${counts[0]?.total} minor units; targets: export <= 2x COPY, peak RSS <= 150 MB`,
    );
    console.log(
      `the bundled CLI against the bare Node process's COPY: ${(cli.seconds / nodeCopy.seconds).toFixed(2)}x (what the program adds to the least a Node process costs)`,
    );
    // The table pairs each line's best round with the floor's best; a round's own floor (same
    // minutes, same state of the machine) gives each round's ratio too.
    const perRound = (exports.bundled as Measured[]).map(
      (e, i) => e.seconds / (copies[i] as Measured).seconds,
    );
    console.log(
      `the bundled CLI over its own round's floor: ${perRound.map((r) => `${r.toFixed(2)}x`).join(' / ')} (median ${median(perRound).toFixed(2)}x)`,
    );
    console.log(`COPY command: psql -c '${copySql.replace(/\s+/g, ' ')}'`);
    const hold = process.env.BENCH_HOLD;
    if (hold) {
      console.log(`BENCH_HOLD: the database stays at ${url} while ${hold} exists`);
      while (existsSync(hold)) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}
