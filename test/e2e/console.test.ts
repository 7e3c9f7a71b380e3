import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BILL_QUEUE } from '../../jobs/queues.ts';
import { registerConsole } from '../../src/console/console.plugin.ts';
import { DEMO_NOW } from '../../src/demo/demo-data.ts';
import { buildServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { runCli } from '../support/cli.ts';
import { CHROMIUM, hasChromium, launchChromium } from '../support/console-browser.ts';
import { HOSTILE_USER, REBILLED_DAY, STALE_DAY, seedConsoleFixture } from '../support/console-fixture.ts';
import { basicAuth } from '../support/http.ts';
import { createTestDatabase, redisUrl, type TestDatabase, testPrefix } from '../support/test-database.ts';

const USER = 'finance';
const PASSWORD = 'console-e2e-password';

if (!hasChromium()) {
  console.warn(
    `test/e2e/console.test.ts SKIPPED: no browser at ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it)`,
  );
}

describe.skipIf(!hasChromium())('the console in headless Chromium', { timeout: 180_000 }, () => {
  let tdb: TestDatabase;
  let app: FastifyInstance;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let connection: Redis;
  let bill: Queue;
  const dialogs: string[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await seedConsoleFixture(tdb.db);
    connection = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    bill = new Queue(BILL_QUEUE, { connection, prefix: testPrefix('console') });
    app = buildServer({ db: tdb.db, logger: createLogger('warn'), now: () => DEMO_NOW });
    await registerConsole(app, { db: tdb.db, user: USER, password: PASSWORD, bill, now: () => DEMO_NOW });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await launchChromium();
    context = await browser.newContext({
      httpCredentials: { username: USER, password: PASSWORD },
      acceptDownloads: true,
    });
    page = await context.newPage();
    // A hostile id that ran as markup would open a dialog: record any.
    page.on('dialog', async (d) => {
      dialogs.push(d.message());
      await d.dismiss();
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await bill?.obliterate({ force: true }).catch(() => {});
    await bill?.close();
    await connection?.quit();
    await tdb?.close();
  });

  it('asks for the admin credentials', async () => {
    expect((await fetch(`${base}/console`)).status).toBe(401);
    const wrong = await fetch(`${base}/console`, {
      headers: { authorization: basicAuth(USER, 'nope-nope-nope') },
    });
    expect(wrong.status).toBe(401);
  });

  it('walks from the overview to a month and a day', async () => {
    await page.goto(`${base}/console`);
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Overview');
    expect(await page.getAttribute('html', 'lang')).toBe('en');
    const row = page.getByRole('row').filter({ hasText: 'Demo Contact Centre' });
    await row.getByRole('link', { name: '2026-10' }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('2026-10');
    // The calendar: 31 days, 30 billed, the stale one, and the chart drawn as SVG from the data.
    expect(await page.locator('table.cal a.day').count()).toBe(31);
    expect(await page.locator('table.cal .badge.s-billed').count()).toBe(30);
    expect(await page.locator(`a[aria-label^="${STALE_DAY}: stale"]`).count()).toBe(1);
    expect(await page.locator('.chart svg rect:has(title)').count()).toBe(31);
    expect(await page.getByText('overdue').count()).toBeGreaterThan(0);
    await page.locator(`a[aria-label^="${STALE_DAY}"]`).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain(STALE_DAY);
    expect(await page.getByRole('row').filter({ hasText: 'superseded' }).count()).toBe(1);
    expect(await page.getByRole('row').filter({ hasText: 'current' }).count()).toBeGreaterThan(0);
  });

  it('runs a replay dry run and shows its diff (nothing written)', async () => {
    await page.goto(`${base}/console/tenants/demo/days/${STALE_DAY}`);
    const runsBefore = await countRuns(STALE_DAY);
    await page.getByRole('button', { name: 'Run a replay dry run' }).click();
    const preview = page.locator('[aria-labelledby="preview-h"]');
    await expect(preview.textContent()).resolves.toContain('+2.50 EUR');
    const changed = preview.getByRole('row').filter({ hasText: 'license.professional' });
    expect(await changed.count()).toBe(1);
    expect(await changed.locator('td').first().textContent()).toBe(HOSTILE_USER);
    expect(await countRuns(STALE_DAY)).toBe(runsBefore);
  });

  it('shows the difference between two runs of a day', async () => {
    await page.goto(`${base}/console/tenants/demo/days/${REBILLED_DAY}`);
    await page.getByRole('button', { name: 'Show difference' }).click();
    const rows = page.getByRole('table', { name: 'Differences per user' }).locator('tbody tr');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().locator('td').first().textContent()).toBe(HOSTILE_USER);
    expect(await rows.first().textContent()).toContain('+2.50');
    // The runs' sums by item come first (exact whatever the page shows); the pages end here.
    const sums = page.getByRole('table', { name: 'Sums by item and billing mode' }).locator('tbody tr');
    const changed = sums.filter({ hasText: '+2.50' });
    expect(await changed.count()).toBe(1);
    expect(await changed.first().textContent()).toContain('license.professional');
    expect(await page.locator('#diff-h ~ .pager').textContent()).toContain('End of the differences.');
  });

  it('pages the lines with a keyset and finds a user by prefix', async () => {
    await page.goto(`${base}/console/tenants/demo/days/${REBILLED_DAY}`);
    const users = () => page.locator('#lines-h ~ table tbody tr td:first-child').allTextContents();
    const first = await users();
    expect(first.length).toBe(50);
    await page.getByRole('link', { name: /^Next 50 lines/ }).click();
    const second = await users();
    expect(second.length).toBeGreaterThan(0);
    expect(
      Buffer.compare(Buffer.from(second[0] as string), Buffer.from(first.at(-1) as string)),
    ).toBeGreaterThanOrEqual(0);
    await page.getByLabel('User id starts with').fill('u-01');
    await page.getByRole('button', { name: 'Search' }).click();
    const found = await users();
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((u) => u.startsWith('u-01'))).toBe(true);
  });

  it('renders a hostile user id and reject payloads as text, never as markup', async () => {
    for (const url of [
      `/console/tenants/demo/days/${REBILLED_DAY}?user=${encodeURIComponent('<img')}`,
      `/console/tenants/demo/users/${encodeURIComponent(HOSTILE_USER)}?day=${REBILLED_DAY}`,
      '/console/rejects',
    ]) {
      await page.goto(`${base}${url}`);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('script').count()).toBe(0);
    }
    expect(await page.getByText('<script>alert(2)</script>', { exact: false }).count()).toBe(1);
    await page.goto(
      `${base}/console/tenants/demo/users/${encodeURIComponent(HOSTILE_USER)}?day=${REBILLED_DAY}`,
    );
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(`User ${HOSTILE_USER}`);
    await expect(page.textContent('main')).resolves.toContain('2.50');
    expect(dialogs).toEqual([]);
  });

  it('downloads invoice.csv byte for byte as billing export writes it', async () => {
    await page.goto(`${base}/console/tenants/demo/months/2026-10`);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download invoice.csv' }).click(),
    ]);
    const fromBrowser = readFileSync(await download.path());
    const cli = await runCli(['export', '--month', '2026-10', '--tenant', 'demo'], {
      env: { DATABASE_URL: tdb.url },
    });
    expect(cli.code).toBe(0);
    expect(fromBrowser.length).toBeGreaterThan(1000);
    expect(fromBrowser.equals(Buffer.from(cli.stdout, 'utf8'))).toBe(true);
    // The formula in the hostile user's name is guarded in both.
    expect(fromBrowser.toString('utf8')).toContain(`,'=cmd|' /C calc'!A0,`);
  });

  it('refuses a POST without the CSRF token, with a wrong one, or from another site', async () => {
    const url = `${base}/console/tenants/demo/months/2026-10/close`;
    const none = await page.request.post(url, { form: { confirm: 'yes' } });
    expect(none.status()).toBe(403);
    expect(await none.text()).toContain('CSRF check failed');
    const wrong = await page.request.post(url, { form: { confirm: 'yes', csrf: 'x'.repeat(43) } });
    expect(wrong.status()).toBe(403);
    await page.goto(url);
    const token = await page.locator('input[name="csrf"]').inputValue();
    const foreign = await page.request.post(url, {
      form: { confirm: 'yes', csrf: token },
      headers: { origin: 'https://evil.example' },
    });
    expect(foreign.status()).toBe(403);
    expect(await closedAt('2026-10')).toBeNull();
  });

  it('queues a replay through the confirmation step, recorded with who did it', async () => {
    await page.goto(`${base}/console/tenants/demo/days/${STALE_DAY}`);
    await page.getByRole('link', { name: 'Queue replay…' }).click();
    await page.getByRole('button', { name: 'Queue replay' }).click();
    await expect(page.getByRole('status').first().textContent()).resolves.toContain(
      'done: queued a replay-day job',
    );
    const jobs = await bill.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(jobs.map((j) => j.data)).toEqual([
      { tenantId: 'demo', day: STALE_DAY, now: DEMO_NOW.toISOString() },
    ]);
    expect(await audit('queue-replay')).toEqual([{ actor: USER, subject: STALE_DAY, outcome: 'done' }]);
  });

  it('records a refused close with its reason', async () => {
    await page.goto(`${base}/console/tenants/demo/months/2026-11/close`);
    await expect(page.locator('.notice.bad').textContent()).resolves.toContain('not billable yet');
    await page.getByRole('button', { name: 'Close 2026-11' }).click();
    await expect(page.getByRole('status').first().textContent()).resolves.toContain(
      'refused: cannot close 2026-11',
    );
    expect(await closedAt('2026-11')).toBeNull();
    expect(await audit('close-month')).toEqual([{ actor: USER, subject: '2026-11', outcome: 'refused' }]);
  });

  it('closes the month through the confirmation step, recorded with who did it', async () => {
    await page.goto(`${base}/console/tenants/demo/months/2026-10`);
    await page.getByRole('link', { name: 'Close 2026-10…' }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toContain('Close 2026-10');
    expect(await closedAt('2026-10')).toBeNull();
    await page.getByRole('button', { name: 'Close 2026-10' }).click();
    await expect(page.getByRole('status').first().textContent()).resolves.toContain(
      'done: closed 2026-10 of tenant demo',
    );
    expect(await closedAt('2026-10')).not.toBeNull();
    expect(await audit('close-month')).toEqual([
      { actor: USER, subject: '2026-11', outcome: 'refused' },
      { actor: USER, subject: '2026-10', outcome: 'done' },
    ]);
    // The month page now says closed and offers no close button; November cannot close yet.
    expect(await page.getByRole('link', { name: 'Close 2026-10…' }).count()).toBe(0);
    await page.goto(`${base}/console/tenants/demo/months/2026-11`);
    await expect(page.locator('#close-h ~ .notice.bad').textContent()).resolves.toContain('not billable yet');
  });

  async function countRuns(day: string): Promise<number> {
    const r = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM runs WHERE tenant_id = 'demo' AND day = ${day}::date`.execute(tdb.db);
    return r.rows[0]?.n ?? -1;
  }

  async function closedAt(month: string): Promise<Date | null> {
    const r = await sql<{
      closed_at: Date;
    }>`SELECT closed_at FROM periods WHERE tenant_id = 'demo' AND month = ${month}`.execute(tdb.db);
    return r.rows[0]?.closed_at ?? null;
  }

  async function audit(action: string) {
    const r = await sql<{ actor: string; subject: string; outcome: string }>`
      SELECT actor, subject, outcome FROM console_audit WHERE action = ${action} ORDER BY id`.execute(tdb.db);
    return r.rows;
  }
});
