import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, type CliResult, runProcess } from '../support/cli.ts';
import { removeDir } from '../support/services.ts';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

/** Environment without the test runner's LOG_LEVEL or database: what a person's shell has. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['LOG_LEVEL', 'DATABASE_URL', 'BILLING_DATA_DIR', 'REDIS_URL']) delete env[k];
  return env;
}

function run(command: string, args: string[], cwd: string): Promise<CliResult> {
  return runProcess(command, args, { cwd, env: plainEnv() });
}

/** The text a terminal would show: escape sequences out, each carriage-return redraw collapsed. */
function screen(raw: string): string[] {
  // cli-progress redraws with "cursor to column 1" (ESC [1G): a carriage return.
  const esc = String.fromCharCode(27);
  const noEscapes = raw
    .replaceAll(`${esc}[1G`, '\r')
    .replace(new RegExp(`${esc}\\[[0-9;?]*[A-Za-z]|${esc}[78]`, 'g'), '');
  return noEscapes
    .split('\n')
    .map((line) => line.replace(/\r$/, '').split('\r').at(-1) as string)
    .filter((line, i, all) => i < all.length - 1 || line !== '');
}

const SUMMARY_LINE =
  /^(billing demo: .*|(database|users|logins|billed|invoice|time): +.*|item +billing +users +amount EUR|[- ]+|(license|addon)\.\S+ +(monthly|daily) +\d+ +\d+\.\d\d|total +\d+\.\d\d|)$/;

describe('billing demo at a terminal and without one', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-demo-tty-'));
  afterAll(() => removeDir(dir));

  it.skipIf(!hasScript)(
    'on a terminal: progress bars then the summary, fitting one screen, no log lines',
    { timeout: 300_000 },
    async () => {
      const command = `${process.execPath} ${BIN} demo --out-dir ${path.join(dir, 'tty')}`;
      // `script` runs the command under a pseudo-terminal (stdout and stderr both a TTY) and
      // copies what the terminal received to its stdout.
      const r = await run('script', ['-qec', command, '/dev/null'], dir);
      expect(r.code).toBe(0);
      const lines = screen(r.stdout);
      expect(lines.length).toBeLessThanOrEqual(40);
      expect(lines.some((l) => /^billing demo: tenant demo /.test(l))).toBe(true);
      expect(lines.some((l) => /^total +\d+\.\d\d$/.test(l))).toBe(true);
      expect(lines.some((l) => /^billing +\[=+\] 31\/31 days/.test(l))).toBe(true);
      expect(lines.some((l) => /^invoice +\d+ rows/.test(l))).toBe(true);
      expect(lines.filter((l) => l.includes('tenant-day billed') || l.startsWith('{"level"'))).toEqual([]);
      // The insight, folded to fit: one explain and the reconcile table by status.
      expect(lines.some((l) => /^billing explain --tenant demo /.test(l))).toBe(true);
      expect(lines.some((l) => /^demo +billed +31 +2026-10-01 +2026-10-31 /.test(l))).toBe(true);
    },
  );

  it('without a terminal: stdout holds only the summary, stderr only JSON log lines (per day at info)', {
    timeout: 300_000,
  }, async () => {
    const r = await run(process.execPath, [BIN, 'demo', '--out-dir', path.join(dir, 'pipe')], dir);
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    expect(out[0]).toMatch(/^billing demo: tenant demo /);
    // The summary, then the insight: one explain and the whole reconcile table (a row per day).
    const insightAt = out.findIndex((l) => l.startsWith('billing explain --tenant demo '));
    expect(insightAt).toBeGreaterThan(0);
    expect(out.slice(0, insightAt).filter((l) => !SUMMARY_LINE.test(l))).toEqual([]);
    const insight = out.slice(insightAt);
    expect(insight.some((l) => /^ {4}\d{4}-\d\d-\d\dT.* via (file|http|stream), received /.test(l))).toBe(
      true,
    );
    expect(insight.filter((l) => /^demo +2026-10-\d\d +\d+/.test(l))).toHaveLength(31);
    const logs = r.stderr.split('\n').filter((l) => l !== '');
    expect(logs.length).toBeGreaterThanOrEqual(31);
    const parsed = logs.map((l) => JSON.parse(l) as { level: number; msg: string; day?: string });
    const days = new Set(parsed.filter((p) => p.level === 30 && p.day !== undefined).map((p) => p.day));
    expect(days.size).toBe(31);
  });
});
