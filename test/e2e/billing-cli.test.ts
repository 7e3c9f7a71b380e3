import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tenantAddArgs } from '../support/cli.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'billing-run-cli-'));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const book = { ...CLI_PRICE_BOOK, tenantId: 'acme' };
const version = (userId: string, effectiveAt: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ tenantId: 'acme', userId, effectiveAt, permissions: ['communication'], ...extra });

describe('billing run, runs, replay and close', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, { env });
  beforeAll(async () => {
    tdb = await createTestDatabase(2);
    env = { DATABASE_URL: tdb.url, LOG_LEVEL: 'warn' };
    await cli(...tenantAddArgs('acme', 'Acme'));
    await cli(...tenantAddArgs('nobook', 'No book', 'UTC', 'KWD'));
    expect((await cli('prices', 'load', file('book.json', JSON.stringify(book)))).code).toBe(0);
    const users = [
      version('u1', '2026-10-01T00:00:00+02:00'),
      version('u2', '2026-10-01T00:00:00+02:00', { permissions: ['workspace'] }),
      JSON.stringify({ tenantId: 'nobook', userId: 'x', effectiveAt: '2026-10-01T00:00:00Z' }),
    ];
    expect((await cli('users', 'import', file('users.ndjson', `${users.join('\n')}\n`))).code).toBe(0);
  });
  afterAll(async () => tdb?.close());

  it('refuses --to before --day and a day that is not billable yet, with exit 2 naming the day', async () => {
    const backwards = await cli('run', '--day', '2026-10-05', '--to', '2026-10-01', '--tenant', 'acme');
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toContain('2026-10-01');
    const future = await cli('run', '--day', '2099-01-01', '--tenant', 'acme');
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('2099-01-01');
  });

  it('run bills a range for every tenant; a failing day exits 1 naming it, the others are billed', async () => {
    const r = await cli('run', '--day', '2026-09-30', '--to', '2026-10-02');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('acme 2026-09-30: skipped');
    expect(r.stdout).toMatch(/acme 2026-10-01: billed, run \d+, 2 lines, total 2\.51 EUR/); // 61 + 190
    expect(r.stderr).toMatch(/nobook 2026-10-01, nobook 2026-10-02/);
    expect(r.stderr).toContain('license.standard');
  });

  it('runs lists the current runs with the total in the currency, and --json in minor units', async () => {
    const text = await cli('runs', '--tenant', 'acme', '--month', '2026-10');
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toHaveLength(2);
    expect(text.stdout).toMatch(/^acme\t2026-10-01\tmanual\t\S+Z\t2 lines\t2\.51 EUR$/m);
    const json = JSON.parse((await cli('runs', '--json')).stdout);
    expect(json[0]).toMatchObject({
      tenantId: 'acme',
      day: '2026-10-01',
      trigger: 'manual',
      lineCount: 2,
      total: 251,
      currency: 'EUR',
    });
  });

  it('replay --dry-run --json prints the exact difference and writes nothing', async () => {
    await cli(
      'users',
      'import',
      file('up.ndjson', `${version('u1', '2026-10-02T12:00:00+02:00', { permissions: ['statistics'] })}\n`),
    );
    const before = (await cli('runs', '--history', '--json')).stdout;
    const r = await cli('replay', '--day', '2026-10-02', '--tenant', 'acme', '--dry-run', '--json');
    expect(r.code).toBe(0);
    // October has 31 days; day 2: standard 1900 -> 61, professional 3900 -> 126; enterprise 190.
    expect(JSON.parse(r.stdout)).toEqual({
      days: [
        {
          tenantId: 'acme',
          day: '2026-10-02',
          status: 'dry-run',
          before: 251,
          after: 316,
          delta: 65,
          changes: [
            { userId: 'u1', item: 'license.professional', billing: 'monthly', before: 0, after: 126 },
            { userId: 'u1', item: 'license.standard', billing: 'monthly', before: 61, after: 0 },
          ],
        },
      ],
    });
    expect((await cli('runs', '--history', '--json')).stdout).toBe(before);
  });

  it('replay prints a readable diff; runs --history shows the superseded run', async () => {
    const r = await cli('replay', '--day', '2026-10-02', '--tenant', 'acme');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('acme 2026-10-02: before 2.51 EUR, after 3.16 EUR, delta +0.65 EUR');
    expect(r.stdout).toMatch(/u1\tlicense\.standard\tmonthly\t0\.61 -> 0\.00/);
    const history = await cli('runs', '--tenant', 'acme', '--day', '2026-10-02', '--history');
    const lines = history.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/charge\tmanual\tsuperseded/);
    expect(lines[1]).toMatch(/charge\treplay\tcurrent.*3\.16 EUR/);
  });

  it('close refuses a month with missing days, then closes; a replay afterwards writes adjustments', async () => {
    const refused = await cli('close', '--tenant', 'acme', '--month', '2026-10');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('2026-10-03');
    expect(refused.stderr).toContain('2026-10-31');
    expect((await cli('run', '--day', '2026-10-03', '--to', '2026-10-31', '--tenant', 'acme')).code).toBe(0);
    expect((await cli('close', '--tenant', 'acme', '--month', '2026-10')).stdout).toContain('closed 2026-10');
    const again = await cli('close', '--tenant', 'acme', '--month', '2026-10');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already closed');
    await cli(
      'users',
      'import',
      file('ent.ndjson', `${version('u1', '2026-10-30T12:00:00+01:00', { permissions: ['workspace'] })}\n`),
    );
    const replay = await cli('replay', '--day', '2026-10-30', '--tenant', 'acme');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/adjustment line\(s\) written into 2026-11/);
    const history = await cli('runs', '--tenant', 'acme', '--day', '2026-10-30', '--history');
    expect(history.stdout).toMatch(/adjustment\treplay\tadjustment/);
  });
});
