import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, runCli, tenantAddArgs } from '../support/cli.ts';
import { CLI_PRICE_BOOK } from '../support/fixtures.ts';
import { createCliDatabase, type TestDatabase } from '../support/test-database.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'billing-cli-'));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

describe('license resolve', () => {
  it('resolves settings from standard input', async () => {
    const r = await runCli(['license', 'resolve'], { input: '{"role":"team_leader","billing":"daily"}\n' });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ license: 'professional', billing: 'daily', addons: [] });
    expect(out.reasons.every((x: string) => x.startsWith('R3: '))).toBe(true);
  });

  it('gives one result or error line per non-blank input line, in order, and exit 2', async () => {
    const p = file(
      'settings.ndjson',
      '{"permissions":["dashboard"]}\n\nnope\n{"role":"root"}\n{"recordCalls":true}\n',
    );
    const r = await runCli(['license', 'resolve', p]);
    expect(r.code).toBe(2);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    expect(lines[0].license).toBe('dashboard');
    expect(lines[1].error).toMatch(/line 3/);
    expect(lines[2].error).toMatch(/role/);
    expect(lines[3]).toMatchObject({ license: 'standard', addons: ['recording'] });
  });
});

describe('tenants, prices and users on PostgreSQL', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    ({ tdb, env } = await createCliDatabase());
  });
  afterAll(async () => tdb?.close());

  it('migrate is a no-op on a migrated database', async () => {
    const r = await runCli(['migrate'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/up to date/);
  });

  it('adds and lists a tenant, refusing a bad timezone and currency with exit 2', async () => {
    const bad = await runCli(tenantAddArgs('x', 'X', 'Mars/Base', 'EURO'), { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Mars/Base');
    expect(bad.stderr).toContain('EURO');
    const ok = await runCli(tenantAddArgs('acme', 'Acme'), { env });
    expect(ok.code).toBe(0);
    const list = await runCli(['tenants', 'list', '--json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([
      { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR', cutoffHour: 2 },
    ]);
  });

  it('creates an API key printed once as the last word, stored only hashed', async () => {
    const r = await runCli(['tenants', 'key', '--tenant', 'acme'], { env });
    expect(r.code).toBe(0);
    const key = r.stdout.trim().split(/\s+/).at(-1) as string;
    expect(key).toMatch(/^bk_/);
    const rows = await tdb.db.selectFrom('api_keys').selectAll().execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.key_hash).not.toContain(key);
    expect(JSON.stringify(rows)).not.toContain(key);
  });

  it('loads a price book once, refuses a different one with the same key and a negative amount', async () => {
    const book = CLI_PRICE_BOOK;
    const p = file('book.json', JSON.stringify(book));
    expect((await runCli(['prices', 'load', p], { env })).code).toBe(0);
    const again = await runCli(['prices', 'load', p], { env });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already loaded/);
    const other = await runCli(
      [
        'prices',
        'load',
        file('b2.json', JSON.stringify({ ...book, monthly: { ...book.monthly, standard: 2000 } })),
      ],
      { env },
    );
    expect(other.code).toBe(2);
    const negative = await runCli(
      [
        'prices',
        'load',
        file(
          'b3.json',
          JSON.stringify({ ...book, validFrom: '2026-02-01', daily: { ...book.daily, recording: -1 } }),
        ),
      ],
      { env },
    );
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain('daily.recording');
    const missing = await runCli(
      [
        'prices',
        'load',
        file('b4.json', JSON.stringify({ ...book, validFrom: '2026-03-01', monthly: { standard: 1 } })),
      ],
      { env },
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('monthly.dashboard');
    expect(await tdb.db.selectFrom('price_books').select('id').execute()).toHaveLength(1);
  });

  it('users import twice changes nothing the second time; a conflicting version is refused naming user and time', async () => {
    const v = {
      tenantId: 'acme',
      userId: 'u-1',
      effectiveAt: '2026-11-03T14:05:00.000+01:00',
      lastName: 'Nováková',
      permissions: ['communication'],
      skills: ['a', 'b'],
    };
    const p = file('users.ndjson', `${JSON.stringify(v)}\n${JSON.stringify({ ...v, userId: 'u-2' })}\n`);
    const importUsers = async () => {
      const r = await runCli(['users', 'import', p, '--json'], { env });
      expect(r.code).toBe(0);
      return lastJsonLine(r.stdout);
    };
    expect(await importUsers()).toEqual({ stored: 2, unchanged: 0, refused: 0 });
    expect(await importUsers()).toEqual({ stored: 0, unchanged: 2, refused: 0 });
    const conflict = await runCli(
      ['users', 'import', file('c.ndjson', `${JSON.stringify({ ...v, skills: ['a'] })}\n`)],
      { env },
    );
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain('c.ndjson:1');
    expect(conflict.stderr).toContain('u-1');
    expect(conflict.stderr).toContain('2026-11-03T13:05:00.000Z');
    expect(await tdb.db.selectFrom('settings_versions').select('user_id').execute()).toHaveLength(2);
  });
});

describe('the embedded database', () => {
  it('works with nothing installed: tenants add and list in BILLING_DATA_DIR', async () => {
    const env = { DATABASE_URL: undefined, BILLING_DATA_DIR: path.join(dir, 'embedded') };
    const add = await runCli(
      [
        'tenants',
        'add',
        '--id',
        'emb',
        '--name',
        'Emb',
        '--timezone',
        'Asia/Kolkata',
        '--currency',
        'INR',
        '--cutoff-hour',
        '3',
      ],
      { env },
    );
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const list = await runCli(['tenants', 'list', '--json'], { env });
    expect(JSON.parse(list.stdout)[0]).toMatchObject({ id: 'emb', timezone: 'Asia/Kolkata', cutoffHour: 3 });
  });
});
