import { type ChildProcess, spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { type BillingWorker, type BillingWorkerOptions, startBillingWorker } from '../../jobs/worker.ts';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import type { Db } from '../../src/db/database.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { createTestDatabase, redisUrl, type TestDatabase } from '../support/test-database.ts';

/** Shared seeding and waiting helpers of the job tests (not a test file itself). */

export const PRICES = CLI_PRICE_BOOK;

/** A tenant in `timezone` with a monthly standard user and a daily professional user from `since`. */
export async function seedTenant(
  db: TestDatabase['db'],
  id: string,
  since: string,
  timezone = 'Europe/Prague',
  currency = 'EUR',
): Promise<void> {
  await addTenant(db, { id, name: id, timezone, currency });
  const base = {
    tenantId: id,
    effectiveAt: since,
    active: true,
    role: 'user',
    permissions: ['communication'],
  };
  const versions = [
    { ...base, userId: 'monthly-1', billing: 'monthly' },
    { ...base, userId: 'daily-1', skills: ['cz-voice', 'sk-voice'], billing: 'daily' },
  ];
  const r = await importSettingsFile(
    db,
    Readable.from(`${versions.map((v) => JSON.stringify(v)).join('\n')}\n`),
    () => new Date(since),
  );
  expect(r.refused).toEqual([]);
}

export async function seedPrices(db: Db): Promise<void> {
  await loadPriceBook(db, PRICES, 'test');
}

export interface RunRow {
  tenant_id: string;
  day: string;
  trigger: string;
  is_current: boolean;
  total: string;
  kind: string;
}

export async function runsOf(db: Db, tenantId?: string): Promise<RunRow[]> {
  let q = db.selectFrom('runs').select(['tenant_id', 'day', 'trigger', 'is_current', 'total', 'kind']);
  if (tenantId) q = q.where('tenant_id', '=', tenantId);
  return q.orderBy('tenant_id').orderBy('day').orderBy('id').execute();
}

/** Waits until the queues hold no waiting, active, delayed or prioritized job (jobs are fast here). */
export async function drain(queues: readonly Queue[], timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let pending = 0;
    for (const q of queues) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      pending += Object.values(c).reduce((a, b) => a + b, 0);
    }
    if (pending === 0) return;
    if (Date.now() > deadline)
      throw new Error(`queues not drained within ${timeoutMs} ms (${pending} jobs pending)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const BIN = new URL('../../bin/billing.js', import.meta.url).pathname;

export interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/**
 * Starts a real `billing worker` process (schedule that never fires) and resolves once it says
 * it started; rejects with its stderr if it exits first.
 */
export function startWorkerProcess(env: Record<string, string>, concurrency = 2): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [BIN, 'worker', '--schedule', '0 0 1 1 *'], {
    env: { ...process.env, LOG_LEVEL: 'info', BILLING_WORKER_CONCURRENCY: String(concurrency), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes('billing worker started')) resolve({ child, exited, stderr: () => err });
    });
    void exited.then((code) => reject(new Error(`worker exited (${code}) before starting:\n${err}`)));
  });
}

/** The database of a test file; its fields can be read once its tests run. */
export type TestDatabaseHandle = Pick<TestDatabase, 'db' | 'url'>;

/**
 * The test file's database: created with the price book before its tests (then `seed`), dropped
 * after them. Call at the top of a `describe`; read `db` and `url` inside the tests.
 */
export function useBillingDatabase(seed?: (db: Db) => Promise<void>): TestDatabaseHandle {
  let conn: TestDatabase | undefined;
  beforeAll(async () => {
    conn = await createTestDatabase();
    await seedPrices(conn.db);
    await seed?.(conn.db);
  });
  afterAll(async () => conn?.close());
  const open = () => {
    if (!conn) throw new Error('the test database is made in beforeAll: read it inside a test');
    return conn;
  };
  return {
    get db() {
      return open().db;
    },
    get url() {
      return open().url;
    },
  };
}

export type TestWorkerOptions = Partial<Omit<BillingWorkerOptions, 'prefix'>> & { prefix: string };

/**
 * Starts in-process billing workers on the test Redis (silent logger, concurrency 2 unless
 * given); every worker a test started is closed after it. Call at the top of a `describe`.
 */
export function useTestWorkers(
  conn: Pick<TestDatabase, 'db'>,
): (options: TestWorkerOptions) => Promise<BillingWorker> {
  const started: BillingWorker[] = [];
  afterEach(async () => {
    for (const w of started.splice(0)) await w.close(5_000);
  });
  return async (options) => {
    const w = await startTestWorker(options.db ?? conn.db, options);
    started.push(w);
    return w;
  };
}

/** One in-process billing worker on the test Redis (silent logger, concurrency 2 unless given). */
export function startTestWorker(db: Db, options: TestWorkerOptions): Promise<BillingWorker> {
  return startBillingWorker({
    db,
    redisUrl: redisUrl(),
    concurrency: 2,
    logger: pino({ level: 'silent' }),
    ...options,
  });
}

/** Holds billDay's lock on a tenant-day in an open transaction of its own. */
export async function holdDayLock(url: string, tenantId: string, day: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT pg_advisory_xact_lock(hashtext('run:' || $1::text), hashtext($2::text))`, [
    tenantId,
    day,
  ]);
  return client;
}

/** How many advisory locks are being waited for (a job held on a tenant-day's lock). */
export async function lockWaiters(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query(
      `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`,
    );
    return r.rows[0].n as number;
  } finally {
    await client.end();
  }
}
