/**
 * `npm run screenshots:console`: the console's pages as PNGs in docs/console/, taken in headless
 * Chromium against the fixture of the browser test (the demo tenant's October plus a hostile user)
 * on an embedded database in a temp dir, at the demo's business clock.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerConsole } from '../../src/console/console.plugin.ts';
import { openDatabase } from '../../src/db/connection.ts';
import { DEMO_NOW } from '../../src/demo/demo-data.ts';
import { buildServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { launchChromium } from './console-browser.ts';
import { HOSTILE_USER, REBILLED_DAY, STALE_DAY, seedConsoleFixture } from './console-fixture.ts';

const OUT = fileURLToPath(new URL('../../docs/console/', import.meta.url));
const USER = 'finance';
const PASSWORD = 'screenshot-password';

const dataDir = mkdtempSync(path.join(tmpdir(), 'billing-console-shots-'));
const conn = await openDatabase({ dataDir });
try {
  await seedConsoleFixture(conn.db);
  const app = buildServer({
    db: conn.db,
    logger: createLogger('warn'),
    serialize: true,
    now: () => DEMO_NOW,
  });
  await registerConsole(app, { db: conn.db, user: USER, password: PASSWORD, now: () => DEMO_NOW });
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({
      httpCredentials: { username: USER, password: PASSWORD },
      viewport: { width: 1280, height: 900 },
      deviceScaleFactor: 1,
    });
    const page = await context.newPage();
    mkdirSync(OUT, { recursive: true });
    const shots: Array<[string, string]> = [
      ['overview', '/console'],
      ['month', '/console/tenants/demo/months/2026-10'],
      ['day', `/console/tenants/demo/days/${STALE_DAY}?preview=1#replay-h`],
      ['day-diff', `/console/tenants/demo/days/${REBILLED_DAY}?from=&to=`],
      ['user', `/console/tenants/demo/users/${encodeURIComponent(HOSTILE_USER)}?month=2026-10`],
      ['rejects', '/console/rejects'],
      ['close', '/console/tenants/demo/months/2026-10/close'],
    ];
    for (const [name, url] of shots) {
      await page.goto(`${address}${url}`);
      if (name === 'day-diff') {
        await page.getByRole('button', { name: 'Show difference' }).click();
        await page.waitForLoadState();
      }
      await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
      console.log(`docs/console/${name}.png`);
    }
  } finally {
    await browser.close();
    await app.close();
  }
} finally {
  await conn.close();
  rmSync(dataDir, { recursive: true, force: true });
}
