import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll } from 'vitest';
import { openPostgres } from '../../../src/db/connection.ts';
import type { Db } from '../../../src/db/database.ts';
import { migrateToLatest } from '../../../src/db/migrator.ts';
import { createApiKey } from '../../../src/tenancy/api-key.ts';
import { addTenant } from '../../../src/tenancy/tenant.service.ts';
import { BIN } from '../../support/cli.ts';
import {
  freePort,
  type LocalPostgres,
  type LocalRedis,
  startLocalPostgres,
  startLocalRedis,
} from '../../support/services.ts';

/** A durable PostgreSQL (fsync on, so a crash loses nothing committed) and Redis with AOF, both restartable. */
export interface Stack {
  postgres: LocalPostgres;
  redis: LocalRedis;
  db: Db;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function startStack(): Promise<Stack> {
  const postgres = await startLocalPostgres({ durable: true });
  const redis = await startLocalRedis({ appendOnly: true });
  const conn = await openPostgres(postgres.url, 4);
  await migrateToLatest(conn.db);
  return {
    postgres,
    redis,
    db: conn.db,
    env: { DATABASE_URL: postgres.url, REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
    async stop() {
      await conn.close();
      await redis.stop();
      await postgres.stop();
    },
  };
}

export async function seedTenant(db: Db, id: string, timezone = 'Europe/Prague'): Promise<string> {
  await addTenant(db, { id, name: id, timezone, currency: 'EUR' });
  return createApiKey(db, id);
}

export interface BillingProcess {
  child: ChildProcess;
  port?: number;
  stderr: () => string;
  /** Resident set size in MB, read from /proc. */
  rssMb(): number;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startBilling(args: string[], env: Record<string, string>): BillingProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-20_000);
  });
  return {
    child,
    stderr: () => stderr,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return kb / 1024;
    },
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      });
    },
  };
}

export async function startServe(
  env: Record<string, string>,
): Promise<BillingProcess & { port: number; base: string }> {
  const port = await freePort();
  const proc = startBilling(['serve', '--port', String(port)], env);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`billing serve exited: ${proc.stderr()}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { ...proc, port, base };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`billing serve did not become healthy: ${proc.stderr()}`);
}

export interface BatchResponse {
  accepted: number;
  duplicates: number;
  rejected: { index: number; eventId?: string; reason: string }[];
}

/** The load of the HTTP ingest stories: batches of a thousand events, four clients posting at once. */
export const INGEST_LOAD = { batchSize: 1000, clients: 4 } as const;

/**
 * Posts a batch until the server acknowledges it with 200, as a well-behaved client does: a
 * failed or unanswered request is retried with the same events (same ids), so a batch that was
 * committed but whose answer was lost comes back as duplicates, never as a second copy.
 */
export async function postUntilAcknowledged(
  base: string,
  key: string,
  events: unknown[],
  maxAttempts = 300,
): Promise<{ response: BatchResponse; attempts: number }> {
  let last = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    try {
      const res = await fetch(`${base}/v1/login-events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ events }),
        signal: AbortSignal.timeout(30_000),
      });
      if (res.status === 200) return { response: (await res.json()) as BatchResponse, attempts: attempt };
      last = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`;
    } catch (error) {
      // connection refused or reset while the database restarts: retry
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`batch not acknowledged after ${maxAttempts} attempts; last answer: ${last}`);
}

export function makeEvents(
  tenantId: string,
  batch: number,
  size: number,
  users: number,
  dayIso = '2026-11-20',
): unknown[] {
  return Array.from({ length: size }, (_, i) => {
    const n = batch * size + i;
    const second = n % 86_000;
    const time = new Date(Date.parse(`${dayIso}T00:00:00Z`) + second * 1000).toISOString();
    return { eventId: `e-${batch}-${i}`, tenantId, userId: `u-${n % users}`, occurredAt: time };
  });
}

export async function countRows(db: Db): Promise<{ events: number; logins: number; rejects: number }> {
  const e = await db
    .selectFrom('login_events')
    .select(db.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  const a = await db
    .selectFrom('daily_activity')
    .select(sql<string>`coalesce(sum(login_count), 0)`.as('n'))
    .executeTakeFirstOrThrow();
  const r = await db
    .selectFrom('ingest_rejects')
    .select(db.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return { events: Number(e.n), logins: Number(a.n), rejects: Number(r.n) };
}

/** What a tenant holds of ingest: its rejects and its events (a claim of another tenant must add neither). */
export async function ingestOf(db: Db, tenantId: string): Promise<{ rejects: number; events: number }> {
  const count = async (table: 'ingest_rejects' | 'login_events') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select(db.fn.countAll<string>().as('n'))
          .where('tenant_id', '=', tenantId)
          .executeTakeFirstOrThrow()
      ).n,
    );
  return { rejects: await count('ingest_rejects'), events: await count('login_events') };
}

export interface ServeStack {
  stack: Stack;
  serve: Awaited<ReturnType<typeof startServe>>;
  /** The API key of tenant `acme`. */
  key: string;
}

/**
 * Registers the hooks of a story that drives `billing serve`: a fresh stack, tenant `acme` with
 * a key, and the server, stopped afterwards. Read the fields inside the tests (set in beforeAll).
 */
export function useServeStack(): ServeStack {
  const ctx = {} as ServeStack;
  beforeAll(async () => {
    ctx.stack = await startStack();
    ctx.key = await seedTenant(ctx.stack.db, 'acme');
    ctx.serve = await startServe(ctx.stack.env);
  });
  afterAll(async () => {
    await ctx.serve?.stop();
    await ctx.stack?.stop();
  });
  return ctx;
}
