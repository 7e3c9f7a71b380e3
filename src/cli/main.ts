import { Command, CommanderError } from 'commander';
import { AppError } from '../errors.ts';
import { CliContext } from './context.ts';
import { registerCommands } from './registry.ts';

const ctx = new CliContext();
const program = new Command('billing')
  .description('metering and billing of per-user seat licenses')
  .showHelpAfterError()
  // Options belong to the command they follow (`tenants key revoke --tenant T` is revoke's).
  .enablePositionalOptions()
  .exitOverride();

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are not errors; every other commander error is bad usage (exit 2).
    return error.code === 'commander.helpDisplayed' ||
      error.code === 'commander.version' ||
      error.code === 'commander.help'
      ? 0
      : 2;
  }
  if (error instanceof AppError) {
    process.stderr.write(`billing: ${error.message}\n`);
    return error.exitCode;
  }
  const err = error as Error;
  process.stderr.write(`billing: ${err?.message ?? String(error)}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace')
    process.stderr.write(`${err?.stack}\n`);
  return 1;
}

try {
  await registerCommands(program, ctx, process.argv);
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
} finally {
  await ctx.close().catch(() => {});
}
