import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

describe('billing tenants import', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  let dir: string;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    env = { DATABASE_URL: tdb.url };
    dir = mkdtempSync(path.join(tmpdir(), 'tenants-import-'));
  });
  afterAll(async () => {
    await tdb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a file, names every bad line, and a second import of the same file changes nothing', {
    timeout: 240_000,
  }, async () => {
    const file = path.join(dir, 'tenants.ndjson');
    writeFileSync(
      file,
      [
        '{"id":"acme","name":"Acme","timezone":"Europe/Prague","currency":"EUR"}',
        '{"id":"tokyo","name":"Tokyo","timezone":"Asia/Tokyo","currency":"JPY","cutoffHour":4}',
        '{"id":"bad","name":"Bad","timezone":"Europe/Prague","currency":"EURO"}',
        '',
      ].join('\n'),
    );
    const first = await runCli(['tenants', 'import', file, '--json'], { env });
    expect(first.code).toBe(2);
    expect(first.stderr).toContain(`${file}:3: currency: "EURO" is not an ISO 4217 currency code`);
    expect(first.stdout).toContain('created 2, unchanged 0, refused 1');
    expect(lastJsonLine(first.stdout)).toEqual({
      created: 2,
      unchanged: 0,
      refused: 1,
    });

    const again = await runCli(['tenants', 'import', file], { env });
    expect(again.code).toBe(2);
    expect(again.stdout).toContain('created 0, unchanged 2, refused 1');

    const list = await runCli(['tenants', 'list', '--json'], { env });
    expect(JSON.parse(list.stdout)).toEqual([
      { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR', cutoffHour: 2 },
      { id: 'tokyo', name: 'Tokyo', timezone: 'Asia/Tokyo', currency: 'JPY', cutoffHour: 4 },
    ]);
  });

  it('reads standard input for -, refuses a conflicting tenant and exits 0 when nothing is refused', {
    timeout: 240_000,
  }, async () => {
    const conflict = await runCli(['tenants', 'import', '-'], {
      env,
      input: '{"id":"acme","name":"Acme","timezone":"Europe/Berlin","currency":"EUR"}\n',
    });
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toContain(
      'stdin:1: tenant "acme" exists with other values: timezone "Europe/Berlin" (stored "Europe/Prague")',
    );
    const ok = await runCli(['tenants', 'import', '-'], {
      env,
      input: '{"id":"new","name":"New","timezone":"UTC","currency":"USD"}\n',
    });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe('created 1, unchanged 0, refused 0');
    const missing = await runCli(['tenants', 'import', path.join(dir, 'nope.ndjson')], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no such file');
  });
});
