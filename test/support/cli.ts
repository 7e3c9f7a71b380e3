import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/billing.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs COMMAND ARGS as a child process and collects its output; `input` goes to its standard
 * input (closed at once when absent).
 */
export function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs `billing ARGS` as a child process, as a user would (`npx billing` runs the same file). */
export function runCli(
  args: string[],
  options: { env?: Record<string, string | undefined>; input?: string; cwd?: string } = {},
): Promise<CliResult> {
  return runProcess(process.execPath, [BIN, ...args], {
    ...options,
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
  });
}

/** The arguments of `billing tenants add` for a test tenant (Europe/Prague and EUR unless given). */
export function tenantAddArgs(
  id: string,
  name: string,
  timezone = 'Europe/Prague',
  currency = 'EUR',
): string[] {
  return ['tenants', 'add', '--id', id, '--name', name, '--timezone', timezone, '--currency', currency];
}

/** What a `--json` command printed on its last line (the counts of an import, for example). */
export function lastJsonLine<T = unknown>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as T;
}
