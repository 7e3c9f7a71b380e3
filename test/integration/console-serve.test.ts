import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BillingProcess, startServe } from '../faults/support/stack.ts';
import { basicAuth } from '../support/http.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const PASSWORD = 'console-serve-password';

describe('billing serve: the console at /console', () => {
  let t: TestDatabase;
  const started: BillingProcess[] = [];
  let env: Record<string, string>;
  beforeAll(async () => {
    t = await createTestDatabase();
    env = { DATABASE_URL: t.url, REDIS_URL: '', LOG_LEVEL: 'info', BILLING_ADMIN_USER: 'finance' };
  });
  afterAll(async () => {
    for (const p of started) await p.stop();
    await t?.close();
  });

  it('is not mounted without a password (404) and serve says why', async () => {
    const serve = await startServe({ ...env, BILLING_ADMIN_PASSWORD: '' });
    started.push(serve);
    const res = await fetch(`${serve.base}/console`, {
      headers: { authorization: basicAuth('finance', 'x') },
    });
    expect(res.status).toBe(404);
    expect(serve.stderr()).toContain('console not mounted at /console: BILLING_ADMIN_PASSWORD is not set');
  });

  it('with a password answers 401 without the credentials and the HTML pages with them', async () => {
    const serve = await startServe({ ...env, BILLING_ADMIN_PASSWORD: PASSWORD });
    started.push(serve);
    const anonymous = await fetch(`${serve.base}/console`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Basic');
    const res = await fetch(`${serve.base}/console`, {
      headers: { authorization: basicAuth('finance', PASSWORD) },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(await res.text()).toContain('No tenants yet');
    const unknown = await fetch(`${serve.base}/console/tenants/nobody/months/2026-10`, {
      headers: { authorization: basicAuth('finance', PASSWORD) },
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('unknown tenant &quot;nobody&quot;');
    expect(serve.stderr()).not.toContain(PASSWORD);
  });
});
