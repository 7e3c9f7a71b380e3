import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Imports `modules` (paths below the repository) in a fresh Node process and reports what a
 * command that loads them would have paid for: whether Node's fetch implementation (undici)
 * was loaded, and whether a `navigator` global is left behind.
 */
function loadIn(modules: string[]): { undici: string[]; navigatorBefore: boolean; navigatorAfter: boolean } {
  const script = `
    const navigatorBefore = 'navigator' in globalThis;
    for (const m of ${JSON.stringify(modules)}) await import(new URL(m, ${JSON.stringify(`file://${ROOT}`)}).href);
    const undici = process.moduleLoadList.filter((m) => m.includes('undici'));
    process.stdout.write(JSON.stringify({ undici, navigatorBefore, navigatorAfter: 'navigator' in globalThis }));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('the pg driver (src/db/pg-driver.ts)', () => {
  // pg's Cloudflare probe builds a fetch Response on Node 20 (no navigator), which loads undici:
  // ~30 ms at the start of every command. Each module that imports pg must get it through the guard.
  it.each([
    ['the driver itself', ['src/db/pg-driver.ts']],
    ['the connection', ['src/db/connection.ts']],
    ["the scripts and the export's COPY helpers", ['src/db/repositories/invoice-csv-copy.repository.ts']],
    ['the settings import', ['src/ingest/settings-import.service.ts']],
  ])('loads pg without loading Node fetch: %s', (_what, modules) => {
    const loaded = loadIn(modules);
    expect(loaded.undici).toEqual([]);
    expect(loaded.navigatorAfter).toBe(loaded.navigatorBefore);
  });

  it('is pg itself', () => {
    const script = `
      const { default: guarded } = await import('./src/db/pg-driver.ts');
      const { default: pg } = await import('pg');
      process.stdout.write(String(guarded === pg && typeof guarded.Pool === 'function'));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('true');
  });
});
