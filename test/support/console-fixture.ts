import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { billDay } from '../../src/billing/bill-day.service.ts';
import type { Db } from '../../src/db/database.ts';
import { runDemo } from '../../src/demo/demo.service.ts';
import { DEMO_NOW, DEMO_TENANT } from '../../src/demo/demo-data.ts';
import { importEventFile } from '../../src/ingest/event-file-import.ts';
import { EventIngestor } from '../../src/ingest/event-ingest.service.ts';
import { importSettingsFile } from '../../src/ingest/settings-file-import.ts';

/** A user id and name that are markup and a spreadsheet formula: the console must show them as text. */
export const HOSTILE_USER = '<img src=x onerror=alert(1)>';
export const HOSTILE_NAME = "=cmd|' /C calc'!A0";

/** The day the hostile user's login is billed late (two runs), and the day left stale. */
export const REBILLED_DAY = '2026-10-14';
export const STALE_DAY = '2026-10-20';

/**
 * The console's fixture: the demo tenant with October 2026 billed (~50 users), then a user whose
 * id is an HTML tag and whose name is a formula, billed daily: a login on REBILLED_DAY (re-billed:
 * the day has a superseded and a current run), a login on STALE_DAY (not re-billed: the day is
 * stale and a replay dry run shows +2.50 EUR), and two rejected payloads carrying markup.
 */
export async function seedConsoleFixture(db: Db): Promise<void> {
  const now = () => DEMO_NOW;
  await runDemo(db, mkdtempSync(path.join(tmpdir(), 'billing-console-demo-')));
  const settings = await importSettingsFile(
    db,
    Readable.from([
      `${JSON.stringify({
        tenantId: DEMO_TENANT.id,
        userId: HOSTILE_USER,
        effectiveAt: '2026-10-01T00:00:00+02:00',
        email: 'mallory@example.com',
        lastName: HOSTILE_NAME,
        role: 'team_leader',
        billing: 'daily',
      })}\n`,
    ]),
    now,
  );
  if (settings.refused.length > 0)
    throw new Error(`fixture settings refused: ${JSON.stringify(settings.refused)}`);
  const login = (eventId: string, at: string) =>
    `${JSON.stringify({ eventId, tenantId: DEMO_TENANT.id, userId: HOSTILE_USER, occurredAt: at })}\n`;
  const lines = [
    login('hostile-1', '2026-10-14T09:00:00+02:00'),
    '{"eventId":"bad-1","tenantId":"demo","userId":"<script>alert(2)</script>","occurredAt":"yesterday"}\n',
    '{"tenantId":"demo","userId":"<img src=x onerror=alert(3)>", broken json\n',
  ];
  await importEventFile(new EventIngestor(db, now), Readable.from(lines), {
    format: 'ndjson',
    name: 'console-fixture.ndjson',
    concurrency: 1,
  });
  // The settings version touched every day of October: bill them again (a second run each).
  for (let d = 1; d <= 31; d++) {
    const day = `2026-10-${String(d).padStart(2, '0')}`;
    await billDay(db, { tenantId: DEMO_TENANT.id, day, trigger: 'late-data', now: DEMO_NOW });
  }
  await importEventFile(
    new EventIngestor(db, now),
    Readable.from([login('hostile-2', '2026-10-20T10:00:00+02:00')]),
    {
      format: 'ndjson',
      name: 'console-fixture-late.ndjson',
      concurrency: 1,
    },
  );
}
