import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BillingProcess, startServe } from '../faults/support/stack.ts';
import { basicAuth } from '../support/http.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';

const PASSWORD = 'correct-horse-battery';

describe('billing serve: the queue dashboard at /admin/queues', () => {
  let t: TestDatabase;
  const started: BillingProcess[] = [];
  const prefix = testPrefix('dash');
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await createTestDatabase();
    env = {
      DATABASE_URL: t.url,
      REDIS_URL: redisUrl(),
      BILLING_QUEUE_PREFIX: prefix,
      LOG_LEVEL: 'info',
      BILLING_ADMIN_USER: 'ops',
      BILLING_ADMIN_PASSWORD: '',
    };
  });
  afterAll(async () => {
    for (const p of started) await p.stop();
    await t?.close();
  });

  it('is not mounted without a password (404) and serve says why', async () => {
    const serve = await startServe(env);
    started.push(serve);
    const res = await fetch(`${serve.base}/admin/queues`, {
      headers: { authorization: basicAuth('ops', 'x') },
    });
    expect(res.status).toBe(404);
    expect(serve.stderr()).toContain(
      'queue dashboard not mounted at /admin/queues: BILLING_ADMIN_PASSWORD is not set',
    );
    expect((await fetch(`${serve.base}/healthz`)).status).toBe(200);
  });

  it('is not mounted without REDIS_URL (404) and serve says why', async () => {
    const serve = await startServe({ ...env, REDIS_URL: '', BILLING_ADMIN_PASSWORD: PASSWORD });
    started.push(serve);
    const res = await fetch(`${serve.base}/admin/queues`, {
      headers: { authorization: basicAuth('ops', PASSWORD) },
    });
    expect(res.status).toBe(404);
    expect(serve.stderr()).toContain('queue dashboard not mounted at /admin/queues: REDIS_URL is not set');
  });

  it('with a password requires Basic auth and lists the plan and bill queues; never logs the password', async () => {
    const connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    const bill = new Queue('bill', { connection, prefix });
    await bill.add(
      'bill-day',
      { tenantId: 'acme', day: '2026-11-20' },
      { jobId: 'dash-job-1', delay: 3_600_000 },
    );
    const serve = await startServe({ ...env, BILLING_ADMIN_PASSWORD: PASSWORD });
    started.push(serve);
    try {
      const anonymous = await fetch(`${serve.base}/admin/queues`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="billing"/);
      for (const [user, password] of [
        ['ops', 'wrong-password-123'],
        ['admin', PASSWORD],
        ['ops', ''],
      ] as const) {
        const res = await fetch(`${serve.base}/admin/queues/api/queues`, {
          headers: { authorization: basicAuth(user, password) },
        });
        expect(res.status, `${user}:${password}`).toBe(401);
      }
      const auth = { authorization: basicAuth('ops', PASSWORD) };
      const page = await fetch(`${serve.base}/admin/queues`, { headers: auth });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      const api = await fetch(`${serve.base}/admin/queues/api/queues`, { headers: auth });
      expect(api.status).toBe(200);
      const body = (await api.json()) as { queues: { name: string; counts: Record<string, number> }[] };
      expect(body.queues.map((q) => q.name).sort()).toEqual(['bill', 'plan']);
      expect(body.queues.find((q) => q.name === 'bill')?.counts.delayed).toBe(1);
      // Actions go through the same auth, and their JSON bodies are parsed.
      const pause = (headers: Record<string, string>) =>
        fetch(`${serve.base}/admin/queues/api/queues/bill/pause`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', ...headers },
          body: '{}',
        });
      expect((await pause({})).status).toBe(401);
      expect(await bill.isPaused()).toBe(false);
      expect((await pause(auth)).status).toBe(200);
      expect(await bill.isPaused()).toBe(true);
      expect(serve.stderr()).toContain('queue dashboard mounted');
      expect(serve.stderr()).not.toContain(PASSWORD);
    } finally {
      await bill.obliterate({ force: true });
      await bill.close();
      await connection.quit();
    }
  });
});
