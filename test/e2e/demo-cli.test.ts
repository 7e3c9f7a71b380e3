import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, runCli } from '../support/cli.ts';
import { removeDir } from '../support/services.ts';

const HEADER =
  'period,tenant_id,user_id,user_last_name,user_email,item,billing,quantity,unit_price,amount,currency,first_day,last_day';

/** `billing demo` in `cwd`, with no DATABASE_URL (the demo is embedded-only). */
function demo(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runCli(['demo', ...args], {
    cwd,
    env: { DATABASE_URL: undefined, BILLING_DATA_DIR: undefined, ...env },
  });
}

/** EUR text to cents, exactly. */
const cents = (text: string) => {
  const m = /^(-?)(\d+)\.(\d\d)$/.exec(text);
  if (!m) throw new Error(`not an EUR amount: ${text}`);
  return (m[1] ? -1 : 1) * (Number(m[2]) * 100 + Number(m[3]));
};

describe('billing demo', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-demo-'));
  afterAll(() => removeDir(dir));
  let first: CliResult;
  let csv: string;

  it('runs end to end on a fresh embedded database and prints where the invoice is', {
    timeout: 180_000,
  }, async () => {
    first = await demo(dir, ['--out-dir', path.join(dir, 'out1')], {
      BILLING_DATA_DIR: path.join(dir, 'db1'),
    });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const invoicePath = /^invoice: +(\S+) \((\d+) rows, total (\S+) EUR\)$/m.exec(first.stdout);
    expect(invoicePath?.[1]).toBe(path.join(dir, 'out1', 'invoice-demo-2026-10.csv'));
    csv = readFileSync(invoicePath?.[1] as string, 'utf8');
    const records = csv.split('\r\n');
    expect(records[0]).toBe(HEADER);
    expect(records.at(-1)).toBe(''); // CRLF after the last record too
    expect(records.length - 2).toBe(Number(invoicePath?.[2]));
    expect(csv.includes('\n') && !/[^\r]\n/.test(csv)).toBe(true);
    expect(/^users: +50 /m.test(first.stdout)).toBe(true);
    expect(/^logins: +\d+ accepted, 0 duplicates, 0 rejected/m.test(first.stdout)).toBe(true);
    // It ends with one explanation and the month's reconciliation.
    expect(first.stdout).toMatch(/^billing explain --tenant demo --user u-\d+ --day 2026-10-14$/m);
    expect(first.stdout).toMatch(/^ {2}logins: \d+, first /m);
    expect(first.stdout).toContain('month 2026-10: 31 tenant-days, 0 with anomalies');
  });

  it('prints a summary whose amounts add up to the invoice and to what was billed', () => {
    const lines = first.stdout.split('\n');
    const start = lines.findIndex((l) => l.startsWith('item '));
    // The summary ends at the first blank line (the explain and reconcile views follow it).
    const rest = lines.slice(start + 2);
    const end = rest.findIndex((l) => l.trim() === '');
    const body = end === -1 ? rest : rest.slice(0, end);
    const totalLine = body.pop() as string;
    expect(body.pop()).toMatch(/^-+/);
    const rows = body.map((l) => l.trim().split(/ +/));
    const items = rows.map((r) => `${r[0]} ${r[1]}`);
    for (const item of [
      'license.dashboard monthly',
      'license.standard monthly',
      'license.professional monthly',
      'license.professional daily',
      'license.enterprise monthly',
      'license.enterprise daily',
      'license.developer monthly',
      'addon.recording monthly',
      'addon.recording daily',
    ]) {
      expect(items).toContain(item);
    }
    const summaryTotal = cents(totalLine.trim().split(/ +/).at(-1) as string);
    expect(rows.reduce((s, r) => s + cents(r[3] as string), 0)).toBe(summaryTotal);
    const csvTotal = csv
      .split('\r\n')
      .slice(1, -1)
      .reduce((s, rec) => s + cents(rec.split(',')[9] as string), 0);
    expect(csvTotal).toBe(summaryTotal);
    const billed = /^billed: +31 days, \d+ charge lines, total (\S+) EUR$/m.exec(first.stdout);
    expect(cents(billed?.[1] as string)).toBe(summaryTotal);
    // Users per row: everyone in the CSV with that item and billing mode.
    for (const r of rows) {
      const users = new Set(
        csv
          .split('\r\n')
          .slice(1, -1)
          .map((rec) => rec.split(','))
          .filter((c) => c[5] === r[0] && c[6] === r[1])
          .map((c) => c[2]),
      );
      expect(users.size).toBe(Number(r[2]));
    }
  });

  it('is reproducible: a second run in a fresh default directory writes the same invoice', {
    timeout: 180_000,
  }, async () => {
    const second = await demo(dir, []);
    expect(second.code).toBe(0);
    const created = readdirSync(path.join(dir, '.billing')).filter((d) => d.startsWith('demo-'));
    expect(created).toHaveLength(1);
    const file = path.join(dir, '.billing', created[0] as string, 'invoice-demo-2026-10.csv');
    expect(existsSync(path.join(dir, '.billing', created[0] as string, 'db'))).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(csv);
    const summary = (out: string) => out.slice(out.indexOf('\nitem '));
    expect(summary(second.stdout)).toBe(summary(first.stdout));
  });

  it('refuses (exit 2) a BILLING_DATA_DIR that already holds the demo', { timeout: 60_000 }, async () => {
    const again = await demo(dir, ['--out-dir', path.join(dir, 'out3')], {
      BILLING_DATA_DIR: path.join(dir, 'db1'),
    });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds the demo tenant/);
  });
});
