/**
 * Console benchmark (issue 13): how long each console page takes for a large tenant, over real
 * HTTP (fastify + the console plugin, Basic auth) against PostgreSQL 15, medians of BENCH_ROUNDS.
 * The tenant is generated with SQL: BENCH_USERS users (default 1,000,000), BENCH_DAYS days of
 * November billed (default 10; 30 is the whole month, ~34M lines, ~8 min of generation here),
 * each day ~1.07M charge lines and ~50% of the users active, one day billed twice (for the run
 * diff), settings versions and a price book (for the user page and the replay dry run), and
 * 20,000 rejects (half of them name an instant of the month, so reconcile attributes them to a
 * day). The aggregates billing writes in a run's transaction (the day's active users, the run's
 * sums by item) are written the same way and timed: their cost to billing. Each page's median is
 * printed next to its floor measured in the same run: an HTTP round trip plus an index lookup of
 * as many finished rows as the page shows (docs/performance/console.md).
 *
 *   npm run bench -- console
 *   BENCH_USERS=100000 BENCH_DAYS=30 npm run bench -- console
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { updateAnomalyGauge } from '../../jobs/gauges.ts';
import { registerConsole } from '../../src/console/console.plugin.ts';
import { consoleDay } from '../../src/console/day.service.ts';
import { consoleMonth } from '../../src/console/month.service.ts';
import { consoleOverview } from '../../src/console/overview.service.ts';
import type { Database, Db } from '../../src/db/database.ts';
import { recordRunTotals } from '../../src/db/repositories/console-month.repository.ts';
import { recordDayActivityCount } from '../../src/db/repositories/day-activity-count.repository.ts';
import { bumpDayRevisions, readDayRevision } from '../../src/db/repositories/day-revision.repository.ts';
import {
  insertIngestRejects,
  type NewIngestReject,
} from '../../src/db/repositories/ingest-reject.repository.ts';
import { applyRunToMonthRows } from '../../src/db/repositories/invoice-month-row.repository.ts';
import { buildServer } from '../../src/http/server.ts';
import { explainCharges } from '../../src/insight/explain.service.ts';
import { reconcileMonth } from '../../src/insight/reconcile.service.ts';
import { createLogger } from '../../src/logger.ts';
import { basicAuth } from '../support/http.ts';
import { benchScale, fillBenchRun, insertBenchTenant, withBenchDatabase } from './bench-database.ts';
import { median } from './stats.ts';

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
  // Half of the rejects name an instant of the month (attributed to its day), half none; kept
  // through ingest's own write path (insertIngestRejects stores the attributed day), 1,000 per
  // batch, one batch per 1,000 seconds before NOW.
  for (let b = 0; b < 20; b++) {
    const batch: NewIngestReject[] = [];
    for (let i = b * 1_000 + 1; i <= (b + 1) * 1_000; i++) {
      const at = new Date(NOW.getTime() - (i % (24 * DAYS)) * 3_600_000).toISOString().slice(0, 19);
      batch.push({
        source: 'http',
        tenantId: TENANT,
        eventId: `e${i}`,
        location: null,
        raw:
          i % 2 === 0
            ? `{"eventId":"e${i}","userId":"<img src=x>","occurredAt":"${at}Z","extra":1}`
            : `{"eventId":"e${i}","userId":"<img src=x>"}`,
        reason: i % 2 === 0 ? 'extra: unknown field' : 'occurredAt: required',
      });
    }
    await insertIngestRejects(db, batch, new Date(NOW.getTime() - b * 1_000_000));
  }
  await sql`DROP TABLE bench_universe`.execute(db);
  await sql`ALTER TABLE charge_lines ADD PRIMARY KEY (run_id, user_id, item)`.execute(db);
  await sql`ALTER TABLE daily_activity ADD PRIMARY KEY (tenant_id, day, user_id)`.execute(db);
  // What billing writes in each run's transaction (bill-day.service.ts): the run reads the day's
  // revision, and records the day's active users and its sums by item. Timed: their cost to billing.
  const costs = { activity: [] as number[], totals: [] as number[] };
  for (let d = 1; d <= DAYS; d++) {
    const day = `${MONTH}-${String(d).padStart(2, '0')}`;
    const revision = await readDayRevision(db, TENANT, day);
    await sql`UPDATE runs SET input_revision = ${revision} WHERE tenant_id = ${TENANT} AND day = ${day}::date`.execute(
      db,
    );
    let t0 = performance.now();
    await recordDayActivityCount(db, TENANT, day, revision);
    costs.activity.push(performance.now() - t0);
    const { rows: ids } = await sql<{ id: string }>`
      SELECT id::text AS id FROM runs WHERE tenant_id = ${TENANT} AND day = ${day}::date`.execute(db);
    for (const { id } of ids) {
      // Billing groups the inserted lines by item as they stream (insertDayLines) instead of
      // only counting them: the marginal cost is grouped minus plain aggregation of the lines.
      t0 = performance.now();
      await sql`SELECT count(*), sum(amount) FROM charge_lines WHERE run_id = ${id}::bigint`.execute(db);
      const plain = performance.now() - t0;
      t0 = performance.now();
      const { rows: sums } = await sql<{ item: string; billing: string; n: number; a: string }>`
        SELECT item, billing, count(*)::int AS n, sum(amount)::text AS a FROM charge_lines
        WHERE run_id = ${id}::bigint GROUP BY item, billing`.execute(db);
      const grouped = performance.now() - t0;
      t0 = performance.now();
      await recordRunTotals(
        db,
        id,
        sums.map((x) => ({ item: x.item, billing: x.billing, lines: x.n, amount: Number(x.a) })),
      );
      costs.totals.push(grouped - plain + (performance.now() - t0));
    }
    // And the month's invoice rows, which the export reads (the day's current run added).
    const { rows: current } = await sql<{ id: string }>`
      SELECT id::text AS id FROM runs WHERE tenant_id = ${TENANT} AND day = ${day}::date AND is_current`.execute(
      db,
    );
    for (const { id } of current)
      await applyRunToMonthRows(db, { tenantId: TENANT, day, addedRunId: id, removedRunId: null });
  }
  await sql`VACUUM ANALYZE`.execute(db);
  await sql`CHECKPOINT`.execute(db);
  console.log(`\ngenerated in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  console.log(
    `billing-time cost of the aggregates per tenant-day (median): active-user count ${median(costs.activity).toFixed(0)} ms, run sums by item ${median(costs.totals).toFixed(0)} ms (grouping the lines by item rather than only counting them, plus the insert of the sums)`,
  );
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** The most rows any node of the plan produced (rows x loops), and where. */
function widest(node: PlanNode): { rows: number; where: string } {
  let best = {
    rows: node['Actual Rows'] * node['Actual Loops'],
    where: `${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}${node['Index Name'] ? ` (${node['Index Name']})` : ''}`,
  };
  for (const child of node.Plans ?? []) {
    const w = widest(child);
    if (w.rows > best.rows) best = w;
  }
  return best;
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of every statement each page runs, through auto_explain on one
 * connection: per page, the statements, the most rows any plan node produced, and the buffers
 * touched. This is what shows that a page reads O(days + page) rows.
 */
async function explainPages(url: string, runIds: [string, string]): Promise<void> {
  const plans: Array<{ plan: PlanNode; ms: number }> = [];
  const pool = new pg.Pool({
    connectionString: url,
    max: 1,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 1082
          ? (v: string) => v
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('connect', (client) => {
    client.on('notice', (n) => {
      const text = n.message ?? '';
      const at = text.indexOf('{');
      if (!text.startsWith('duration') || at < 0) return;
      const parsed = JSON.parse(text.slice(at)) as { Plan: PlanNode; 'Execution Time'?: number };
      plans.push({ plan: parsed.Plan, ms: Number(/duration: ([\d.]+) ms/.exec(text)?.[1] ?? 0) });
    });
    void client.query(
      `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;
       SET auto_explain.log_buffers = on; SET auto_explain.log_format = 'json'; SET auto_explain.log_nested_statements = on;
       SET auto_explain.log_level = 'notice'; SET client_min_messages = 'notice'`,
    );
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const day = `${MONTH}-01`;
  const pages: Array<[string, () => Promise<unknown>]> = [
    ['month', () => consoleMonth(db, { tenantId: TENANT, month: MONTH, now: NOW })],
    ['overview', () => consoleOverview(db, NOW)],
    [
      'reconcile (CLI/HTTP, one month)',
      () => reconcileMonth(db, { month: MONTH, tenantId: TENANT, now: NOW }),
    ],
    ['day: runs + first 50 lines', () => consoleDay(db, { tenantId: TENANT, day })],
    [
      'day: diff (sums + first page)',
      () => consoleDay(db, { tenantId: TENANT, day, diff: { from: runIds[0], to: runIds[1] } }),
    ],
    [
      'day: diff, a page from the middle',
      () =>
        consoleDay(db, {
          tenantId: TENANT,
          day,
          diff: { from: runIds[0], to: runIds[1], after: { userId: uid(Math.floor(USERS / 2)), item: 'z' } },
        }),
    ],
    [
      'user: explain a month',
      () => explainCharges(db, { tenantId: TENANT, userId: uid(5), month: MONTH, now: NOW }),
    ],
    ['anomaly gauge (every tenant)', () => updateAnomalyGauge(db, NOW)],
  ];
  console.log('\nEXPLAIN (ANALYZE, BUFFERS) of every statement of a page (auto_explain):');
  try {
    for (const [what, run] of pages) {
      await run(); // warm
      plans.length = 0;
      await run();
      const rows = plans.map((p) => ({
        ms: p.ms,
        ...widest(p.plan),
        hit: p.plan['Shared Hit Blocks'] ?? 0,
        read: p.plan['Shared Read Blocks'] ?? 0,
      }));
      const top = [...rows].sort((a, b) => b.rows - a.rows)[0];
      console.log(
        `${what}: ${rows.length} statements, ${rows.reduce((a, r) => a + r.ms, 0).toFixed(1)} ms in PostgreSQL, ` +
          `buffers hit ${rows.reduce((a, r) => a + r.hit, 0)} read ${rows.reduce((a, r) => a + r.read, 0)}; ` +
          `most rows from one plan node: ${top?.rows.toLocaleString('en')} (${top?.where})`,
      );
    }
  } finally {
    await db.destroy();
  }
}

export async function run(): Promise<void> {
  await withBenchDatabase({ poolSize: 10, sharedBuffers: '1GB' }, async (db, url) => {
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
    // [what, path, rounds, finished rows the page shows (for its floor)]
    const pages: Array<[string, string, number, number]> = [
      ['month, first visit', `/console/tenants/${TENANT}/months/${MONTH}`, 1, 30 + 2],
      ['month', `/console/tenants/${TENANT}/months/${MONTH}`, ROUNDS, 30 + 2],
      ['overview', '/console', ROUNDS, 2],
      ['day: runs + first 50 lines', day, ROUNDS, 2 + 50],
      [
        'day: lines page after the 500,000th user',
        `${day}?afterUser=${uid(Math.floor(USERS / 2))}&afterItem=z`,
        ROUNDS,
        2 + 50,
      ],
      ['day: lines of users starting with u00424', `${day}?user=u00424`, ROUNDS, 2 + 50],
      [
        'day: diff of its two runs (sums + first page)',
        `${day}?from=${runIds[0]}&to=${runIds[1]}`,
        ROUNDS,
        2 + 50 + 2 + 1,
      ],
      [
        'day: diff, a page from the middle',
        `${day}?from=${runIds[0]}&to=${runIds[1]}&diffAfterUser=${uid(Math.floor(USERS / 2))}&diffAfterItem=z`,
        ROUNDS,
        2 + 50 + 2,
      ],
      ['user: explain a month', `/console/tenants/${TENANT}/users/${uid(5)}?month=${MONTH}`, ROUNDS, 30],
      ['user: explain a day', `/console/tenants/${TENANT}/users/${uid(5)}?day=${MONTH}-01`, ROUNDS, 1],
      ['rejects (20,000 kept), first page', '/console/rejects', ROUNDS, 50],
      ['rejects filtered by reason, first page', '/console/rejects?tenant=big&reason=occurredAt', ROUNDS, 50],
      ['day: replay dry run (an action: bills the day without writing)', `${day}?preview=1`, 1, 2 + 50 + 200],
      [
        'invoice.csv (the export, streamed)',
        `/console/tenants/${TENANT}/months/${MONTH}/invoice.csv`,
        1,
        1000,
      ],
    ];
    // The floor of a page, measured in this run: one HTTP round trip through the same server
    // (GET /healthz) plus an index lookup of as many finished rows as the page shows, from a
    // table that holds them ready (nothing left to compute).
    await sql`CREATE TABLE bench_finished (k int PRIMARY KEY, a text, b text, c bigint, d bigint, e bigint)`.execute(
      db,
    );
    await sql`INSERT INTO bench_finished SELECT k, 'u' || lpad(k::text, 7, '0'), 'license.standard', k, k * 2, k * 3
              FROM generate_series(1, 1000) k`.execute(db);
    await sql`VACUUM ANALYZE bench_finished`.execute(db);
    const floor = async (rows: number): Promise<number> => {
      const t0 = performance.now();
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      await sql`SELECT * FROM bench_finished WHERE k <= ${rows}::int ORDER BY k`.execute(db);
      return (performance.now() - t0) / 1000;
    };
    const results: Record<string, string | number>[] = [];
    // The plans first of the two actions (the replay dry run and the export take minutes at 1M
    // users on a loaded machine; the plans are the load-independent evidence).
    const actions = pages.splice(-2);
    for (const [i, [what, path, rounds, shown]] of [...pages, ...actions].entries()) {
      if (i === pages.length) await explainPages(url, runIds as [string, string]);
      const times: number[] = [];
      const floors: number[] = [];
      let bytes = 0;
      for (let r = 0; r < rounds; r++) {
        const m = await get(path);
        times.push(m.seconds);
        bytes = m.bytes;
        floors.push(await floor(shown));
      }
      const page = median(times);
      const fl = median(floors);
      results.push({
        page: what,
        'median s': Number(page.toFixed(3)),
        'floor s': Number(fl.toFixed(3)),
        'x floor': Number((page / fl).toFixed(1)),
        'rows shown': shown,
        rounds,
        KB: Math.round(bytes / 1024),
      });
      console.log(`${what}: ${page.toFixed(3)} s (floor ${fl.toFixed(3)} s)`);
    }
    await app.close();
    console.log(
      `\nconsole pages, tenant of ${USERS.toLocaleString('en')} users, ${DAYS} days billed (${Number(rows[0]?.lines).toLocaleString('en')} charge lines, ${rows[0]?.runs} runs), PostgreSQL 15, over HTTP:`,
    );
    console.table(results);
  });
}
