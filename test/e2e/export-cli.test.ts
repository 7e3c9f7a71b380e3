import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRunToMonthRows } from '../../src/db/repositories/invoice-month-row.repository.ts';
import { runCli } from '../support/cli.ts';
import { createCliDatabase, type TestDatabase } from '../support/test-database.ts';

const HEADER =
  'period,tenant_id,user_id,user_last_name,user_email,item,billing,quantity,unit_price,amount,currency,first_day,last_day\r\n';

describe('billing export on PostgreSQL', { timeout: 120_000 }, () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-export-'));

  beforeAll(async () => {
    ({ tdb, env } = await createCliDatabase());
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('acme', 'Acme', 'Europe/Prague', 'EUR')`.execute(
      tdb.db,
    );
    await sql`
      WITH r AS (
        INSERT INTO runs (tenant_id, day, kind, trigger, is_current, input_revision, started_at, finished_at,
                          line_count, total, currency)
        SELECT 'acme', d::date, 'charge', 'schedule', true, 1, now(), now(), 2, 113, 'EUR'
        FROM generate_series('2026-11-01'::date, '2026-11-30'::date, '1 day') d
        RETURNING id)
      INSERT INTO charge_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
      SELECT r.id, u.id, 'license.standard', 'monthly', u.amount, 1900, 1
      FROM r, (VALUES ('=cmd', 63), ('Nováková, J.', 50)) AS u (id, amount)`.execute(tdb.db);
    // What billDay does in each run's transaction: the export reads the month rows it keeps.
    const { rows } = await sql<{ id: string; day: string }>`
      SELECT id::text AS id, day::text AS day FROM runs ORDER BY day`.execute(tdb.db);
    for (const r of rows)
      await applyRunToMonthRows(tdb.db, {
        tenantId: 'acme',
        day: r.day,
        addedRunId: r.id,
        removedRunId: null,
      });
  });
  afterAll(async () => tdb?.close());

  it('writes the CSV to stdout, byte for byte', async () => {
    const r = await runCli(['export', '--month', '2026-11'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `${HEADER}2026-11,acme,'=cmd,,,license.standard,monthly,30,19.00,18.90,EUR,2026-11-01,2026-11-30\r\n` +
        '2026-11,acme,"Nováková, J.",,,license.standard,monthly,30,19.00,15.00,EUR,2026-11-01,2026-11-30\r\n',
    );
  });

  it('writes the same bytes to --out FILE and prints the row count and total', async () => {
    const file = path.join(dir, 'acme-2026-11.csv');
    const r = await runCli(['export', '--month', '2026-11', '--tenant', 'acme', '--out', file], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`wrote 2 rows to ${file} (total 33.90 EUR)\n`);
    // names and e-mail addresses: readable by the owner only
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stdout = await runCli(['export', '--month', '2026-11'], { env });
    expect(readFileSync(file, 'utf8')).toBe(stdout.stdout);
  });

  it('exits 2 naming a bad month or an unknown tenant, and leaves no file behind', async () => {
    const file = path.join(dir, 'bad.csv');
    const month = await runCli(['export', '--month', '2026-1', '--out', file], { env });
    expect(month.code).toBe(2);
    expect(month.stderr).toContain('2026-1');
    const tenant = await runCli(['export', '--month', '2026-11', '--tenant', 'nobody', '--out', file], {
      env,
    });
    expect(tenant.code).toBe(2);
    expect(tenant.stderr).toContain('nobody');
    expect(existsSync(file)).toBe(false);
    const missing = await runCli(['export'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--month');
  });

  it('exits 2 naming a path whose directory does not exist, without a stack trace', async () => {
    const file = path.join(dir, 'missing-dir', 'x.csv');
    const r = await runCli(['export', '--month', '2026-11', '--out', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`billing: cannot write ${file}: no such directory\n`);
    expect(existsSync(path.dirname(file))).toBe(false);
  });
});
