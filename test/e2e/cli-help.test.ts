import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Command, Help } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliContext } from '../../src/cli/context.ts';
import { COMMANDS, commandName, REFERENCE } from '../../src/cli/registry.ts';
import { BIN, runCli } from '../support/cli.ts';

/**
 * The files `billing ARGS` loads: ES modules seen by a module-load hook, CommonJS ones (pino is
 * required lazily) read from the require cache at exit.
 */
function modulesLoaded(args: string[]): string[] {
  const hook = `data:text/javascript,${encodeURIComponent(
    "export async function load(u,c,n){if(u.startsWith('file:'))process.stderr.write('LOADED '+u+'\\n');return n(u,c)}",
  )}`;
  const register = `data:text/javascript,${encodeURIComponent(
    `import{register,createRequire}from'node:module';register(${JSON.stringify(hook)});` +
      "const cache=createRequire('/').cache;process.on('exit',()=>{for(const k of Object.keys(cache))process.stderr.write('LOADED file://'+k+'\\n')});",
  )}`;
  const r = spawnSync(process.execPath, ['--import', register, BIN, ...args], { encoding: 'utf8' });
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice('LOADED '.length));
}

describe('billing --help', () => {
  it('lists each command with the same term as the command itself registers', async () => {
    for (const [name, entry] of Object.entries(COMMANDS)) {
      const program = new Command('billing');
      (await entry.load())(program, new CliContext());
      const cmd = program.commands.find((c) => c.name() === name);
      expect(cmd, name).toBeDefined();
      expect(entry.term, name).toBe(new Help().subcommandTerm(cmd as Command));
      expect(entry.summary.length, name).toBeGreaterThan(10);
    }
  });

  it('prints every command and where the reference is, without loading the commands', {
    timeout: 30_000,
  }, async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const entry of Object.values(COMMANDS)) expect(r.stdout).toContain(entry.term);
    expect(r.stdout).toContain(REFERENCE);
    expect(existsSync(new URL(`../../${REFERENCE}`, import.meta.url))).toBe(true);
  });

  it('loads no command module, and `license resolve` neither the logger nor the database driver', {
    timeout: 60_000,
  }, () => {
    const help = modulesLoaded(['--help']);
    expect(help.some((u) => u.includes('/src/cli/main.'))).toBe(true); // the hook saw the program
    expect(help.filter((u) => u.includes('/commands/'))).toEqual([]);
    const resolve = modulesLoaded(['license', 'resolve']);
    expect(resolve.filter((u) => u.includes('/commands/')).map((u) => u.replace(/.*\//, ''))).toEqual([
      expect.stringMatching(/^license\.command\./),
    ]);
    expect(resolve.filter((u) => /node_modules\/(pino|kysely|pg|@electric-sql)\//.test(u))).toEqual([]);
  });

  it("ends every subcommand's help with its reference", { timeout: 60_000 }, async () => {
    for (const args of [
      ['run', '--help'],
      ['help', 'tenants'],
      ['tenants', 'add', '--help'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      const path = args.filter((a) => a !== '--help' && a !== 'help').join(' ');
      expect(r.stdout).toContain(`Reference: ${REFERENCE} (billing ${path})`);
    }
  });

  it('finds the command after global options and in `help NAME`', () => {
    expect(commandName(['node', 'billing', '--verbose', 'demo', '--out-dir', 'x'])).toBe('demo');
    expect(commandName(['node', 'billing', 'help', 'run'])).toBe('run');
    expect(commandName(['node', 'billing', '--help'])).toBeUndefined();
    expect(commandName(['node', 'billing'])).toBeUndefined();
  });
});
