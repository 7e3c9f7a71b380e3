import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.ts';
import { freePort } from '../support/services.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'billing-lock-'));
const env = { DATABASE_URL: undefined, BILLING_DATA_DIR: path.join(dir, 'data') };
const lockFile = path.join(dir, 'data', 'billing.lock');

async function healthy(base: string, child: ReturnType<typeof spawn>, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serve exited: ${stderr()}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`serve did not become healthy: ${stderr()}`);
}

describe('the embedded data directory is used by one process at a time', { timeout: 300_000 }, () => {
  const children: ReturnType<typeof spawn>[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('a second process exits 2 naming the directory and the pid that holds it; a dead holder is taken over', async () => {
    expect((await runCli(['tenants', 'list'], { env })).code).toBe(0);
    expect(existsSync(lockFile)).toBe(false); // released at exit
    const port = await freePort();
    const serve = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(serve);
    let stderr = '';
    serve.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    await healthy(`http://127.0.0.1:${port}`, serve, () => stderr);
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(serve.pid));

    const second = await runCli(['tenants', 'list'], { env });
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(
      `the embedded database in ${env.BILLING_DATA_DIR} is in use by process ${serve.pid}`,
    );
    expect(second.stderr).not.toContain('Aborted');

    // SIGKILL leaves the lock file behind; its pid is gone, so the next process takes it over.
    const exited = new Promise((r) => serve.once('exit', r));
    serve.kill('SIGKILL');
    await exited;
    expect(readFileSync(lockFile, 'utf8').trim()).toBe(String(serve.pid));
    const after = await runCli(['tenants', 'list'], { env });
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    expect(existsSync(lockFile)).toBe(false);
  });

  it('a lock file held by another live process refuses, naming that pid', async () => {
    // This test process is alive and is not the CLI: it stands for another holder.
    writeFileSync(lockFile, `${process.pid}\n`);
    try {
      const r = await runCli(['tenants', 'list'], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`in use by process ${process.pid} (lock file ${lockFile})`);
    } finally {
      writeFileSync(lockFile, '');
    }
    // an empty (half-written) lock file is stale
    expect((await runCli(['tenants', 'list'], { env })).code).toBe(0);
  });
});
