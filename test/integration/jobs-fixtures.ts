import { type ChildProcess, spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { Queue } from 'bullmq';
import { expect } from 'vitest';
import { loadPriceBook } from '../../src/billing/price-book.service.ts';
import type { Db } from '../../src/db/database.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import type { TestDatabase } from '../support/test-database.ts';

/** Shared seeding and waiting helpers of the job tests (not a test file itself). */

export const PRICES = CLI_PRICE_BOOK;

/** A tenant in `timezone` with a monthly standard user and a daily professional user from `since`. */
export async function seedTenant(
  db: TestDatabase['db'],
  id: string,
  since: string,
  timezone = 'Europe/Prague',
): Promise<void> {
  await addTenant(db, { id, name: id, timezone, currency: 'EUR' });
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
