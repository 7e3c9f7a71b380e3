import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayRange } from '../../src/domain/calendar.ts';
import { runCli, tenantAddArgs } from '../support/cli.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { createTestDatabase } from '../support/test-database.ts';

const BACKENDS = [
  {
    name: 'postgres',
    setup: async () => {
      const t = await createTestDatabase(2);
      return { env: { DATABASE_URL: t.url } as Record<string, string>, close: () => t.close() };
    },
  },
];

describe.each(BACKENDS)('billing explain and reconcile on $name', ({ setup }) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-insight-cli-'));
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  let backend: { env: Record<string, string>; close: () => Promise<void> };
  const cli = (...args: string[]) => runCli(args, { env: { ...backend.env, LOG_LEVEL: 'warn' } });

  beforeAll(async () => {
    backend = await setup();
    const add = await cli(...tenantAddArgs('acme', 'Acme', 'UTC'));
    expect(add.code).toBe(0);
    expect((await cli('prices', 'load', file('book.json', JSON.stringify(CLI_PRICE_BOOK)))).code).toBe(0);
    const users = [
      {
        tenantId: 'acme',
        userId: 'd1',
        effectiveAt: '2026-09-01T00:00:00Z',
        permissions: ['communication', 'statistics'],
        billing: 'daily',
      },
      { tenantId: 'acme', userId: 'm1', effectiveAt: '2026-09-01T00:00:00Z', permissions: ['communication'] },
    ];
    expect(
      (await cli('users', 'import', file('users.ndjson', users.map((u) => JSON.stringify(u)).join('\n'))))
        .code,
    ).toBe(0);
    const logins = dayRange('2026-10-01', '2026-10-31').map((day) =>
      JSON.stringify({ eventId: `e-${day}`, tenantId: 'acme', userId: 'd1', occurredAt: `${day}T09:00:00Z` }),
    );
    expect((await cli('ingest', file('logins.ndjson', `${logins.join('\n')}\n`))).code).toBe(0);
    const run = await cli('run', '--day', '2026-10-01', '--to', '2026-10-31', '--tenant', 'acme');
    expect(run.code).toBe(0);
  }, 180_000);
  afterAll(async () => backend?.close());

  it('explain prints the derivation, and --json the object of the contract', async () => {
    const json = await cli('explain', '--tenant', 'acme', '--user', 'd1', '--day', '2026-10-14', '--json');
    expect(json.code).toBe(0);
    const e = JSON.parse(json.stdout);
    expect(e.days[0].lines.map((l: { item: string; amount: number }) => [l.item, l.amount])).toEqual([
      ['license.professional', 250],
    ]);
    expect(e.days[0].activity.events[0].eventId).toBe('e-2026-10-14');
    const text = await cli('explain', '--tenant', 'acme', '--user', 'm1', '--month', '2026-10');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('floor(1900*14/31) - floor(1900*13/31)');
    expect(text.stdout).toContain('total of the days shown: 19.00 EUR');
  });

  it('reconcile: the table, --json rows, and --fail-on-anomaly', async () => {
    const runsBefore = await cli('runs', '--history', '--json');
    const table = await cli('reconcile', '--month', '2026-10');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^tenant\s+day\s+http\s+file\s+stream/);
    expect(table.stdout).toContain('31 tenant-days, 0 with anomalies');
    const json = JSON.parse(
      (await cli('reconcile', '--month', '2026-10', '--tenant', 'acme', '--json')).stdout,
    );
    expect(json.rows).toHaveLength(31);
    expect(json.rows[13]).toMatchObject({
      day: '2026-10-14',
      accepted: { file: 1 },
      status: 'billed',
      activeUsers: 1,
      lines: 2,
    });
    expect((await cli('reconcile', '--month', '2026-10', '--fail-on-anomaly')).code).toBe(0);
    // November is not billed: its due days are overdue.
    const nov = await cli('reconcile', '--month', '2026-11', '--tenant', 'acme', '--fail-on-anomaly');
    expect(nov.code).toBe(1);
    expect(nov.stdout).toContain('overdue: past its cut-off and has no run');
    // Nothing was written by explain or reconcile.
    expect((await cli('runs', '--history', '--json')).stdout).toBe(runsBefore.stdout);
  });

  it.each([
    [['explain', '--tenant', 'nope', '--user', 'd1', '--day', '2026-10-14'], 'unknown tenant "nope"'],
    [
      ['explain', '--tenant', 'acme', '--user', 'zz', '--day', '2026-10-14'],
      'unknown user "zz" of tenant "acme"',
    ],
    [['explain', '--tenant', 'acme', '--user', 'd1', '--day', '2026-02-30'], 'invalid day "2026-02-30"'],
    [['explain', '--tenant', 'acme', '--user', 'd1', '--day', '2099-01-01'], 'not billable yet'],
    [['explain', '--tenant', 'acme', '--user', 'd1', '--month', '2099-01'], 'month 2099-01 is in the future'],
    [['explain', '--tenant', 'acme', '--user', 'd1', '--month', '10-2026'], 'invalid month "10-2026"'],
    [['explain', '--tenant', 'acme', '--user', 'd1'], 'exactly one of --day D and --month YYYY-MM'],
    [['reconcile', '--month', '2099-01'], 'month 2099-01 is in the future'],
    [['reconcile', '--month', '2026-13'], 'invalid month "2026-13"'],
    [['reconcile', '--month', '2026-10', '--tenant', 'nope'], 'unknown tenant "nope"'],
    [['reconcile', '--month', '2026-10', '--jump', 'lots'], '--jump must be a number'],
  ])('exit 2 for %j', async (args, message) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });
});

// The embedded database starts slowly (seconds per command on a busy machine): a short story
// there; the services are tested on it in test/integration.
describe('billing explain and reconcile on the embedded database', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-insight-emb-'));
  const env = { BILLING_DATA_DIR: path.join(dir, 'db'), LOG_LEVEL: 'warn' };
  const cli = (...args: string[]) => runCli(args, { env });
  beforeAll(async () => {
    expect((await cli(...tenantAddArgs('acme', 'Acme', 'UTC'))).code).toBe(0);
    const book = path.join(dir, 'book.json');
    writeFileSync(book, JSON.stringify(CLI_PRICE_BOOK));
    expect((await cli('prices', 'load', book)).code).toBe(0);
    const users = path.join(dir, 'users.ndjson');
    writeFileSync(
      users,
      `${JSON.stringify({ tenantId: 'acme', userId: 'm1', effectiveAt: '2026-10-01T00:00:00Z', permissions: ['communication'] })}\n`,
    );
    expect((await cli('users', 'import', users)).code).toBe(0);
    expect((await cli('run', '--day', '2026-10-01', '--to', '2026-10-02', '--tenant', 'acme')).code).toBe(0);
  }, 600_000);

  it('explains, reconciles, refuses bad input with exit 2, and writes nothing', async () => {
    const before = (await cli('runs', '--history', '--json')).stdout;
    const e = JSON.parse(
      (await cli('explain', '--tenant', 'acme', '--user', 'm1', '--day', '2026-10-02', '--json')).stdout,
    );
    expect(e.days[0].lines[0]).toMatchObject({
      item: 'license.standard',
      amount: 61,
      proration: { d: 2, n: 31, value: 61 },
    });
    const r = JSON.parse((await cli('reconcile', '--month', '2026-10', '--json')).stdout);
    expect(r.rows.slice(0, 3).map((x: { status: string }) => x.status)).toEqual([
      'billed',
      'billed',
      'missing',
    ]);
    const bad = await cli('explain', '--tenant', 'acme', '--user', 'nobody', '--day', '2026-10-02');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown user "nobody"');
    expect((await cli('runs', '--history', '--json')).stdout).toBe(before);
  }, 600_000);
});
