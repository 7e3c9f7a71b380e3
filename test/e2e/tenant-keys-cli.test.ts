import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tenantAddArgs } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';

describe('billing tenants keys / key / key revoke', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    env = { DATABASE_URL: tdb.url };
    const add = await runCli(tenantAddArgs('acme', 'Acme'), { env });
    expect(add.code, add.stderr).toBe(0);
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('creates keys with and without expiry, lists them without the key, revokes one by prefix', {
    timeout: 240_000,
  }, async () => {
    const plain = await runCli(['tenants', 'key', '--tenant', 'acme'], { env });
    expect(plain.code, plain.stderr).toBe(0);
    const key1 = plain.stdout.trim().split(/\s+/).at(-1) as string;
    expect(plain.stdout).toContain('no expiry');
    const expiring = await runCli(['tenants', 'key', '--tenant', 'acme', '--expires-in', '90d'], { env });
    expect(expiring.code, expiring.stderr).toBe(0);
    const key2 = expiring.stdout.trim().split(/\s+/).at(-1) as string;
    expect(key2).toMatch(/^bk_/);

    const list = await runCli(['tenants', 'keys', '--tenant', 'acme', '--json'], { env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).not.toContain(key1);
    expect(list.stdout).not.toContain(key2);
    const keys = JSON.parse(list.stdout) as {
      id: string;
      prefix: string;
      expiresAt: string | null;
      state: string;
    }[];
    expect(keys.map((k) => [k.prefix, k.state])).toEqual([
      [key1.slice(0, 9), 'active'],
      [key2.slice(0, 9), 'active'],
    ]);
    expect(keys[0]?.expiresAt).toBeNull();
    const days = (Date.parse(keys[1]?.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(90);

    const revoke = await runCli(
      ['tenants', 'key', 'revoke', '--tenant', 'acme', '--prefix', key1.slice(0, 9)],
      {
        env,
      },
    );
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(`revoked API key ${keys[0]?.id}`);
    const again = await runCli(['tenants', 'key', 'revoke', '--tenant', 'acme', '--id', keys[0]?.id ?? ''], {
      env,
    });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('was already revoked');

    const text = await runCli(['tenants', 'keys', '--tenant', 'acme'], { env });
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toBe('id\tprefix\tcreated\tlast used\texpires\tstate');
    expect(lines[1]).toMatch(
      new RegExp(`^${keys[0]?.id}\\t${key1.slice(0, 9)}\\t\\S+\\tnever\\tnever\\trevoked \\S+$`),
    );
    expect(lines[2]).toMatch(/\tactive$/);
  });

  it('refuses bad input with exit 2 and says what', { timeout: 240_000 }, async () => {
    const cases: [string[], string][] = [
      [
        ['tenants', 'key', '--tenant', 'acme', '--expires-in', 'soon'],
        '--expires-in: "soon" is not a duration',
      ],
      [['tenants', 'key', '--tenant', 'acme', '--expires-at', '2001-01-01T00:00:00Z'], 'not in the future'],
      [['tenants', 'key'], "required option '--tenant <id>'"],
      [['tenants', 'key', 'revoke', '--tenant', 'acme'], '--id or --prefix'],
      [['tenants', 'key', 'revoke', '--tenant', 'acme', '--id', '999'], 'has no API key with id 999'],
      [['tenants', 'keys', '--tenant', 'nope'], 'unknown tenant "nope"'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });
});
