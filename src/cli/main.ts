import { Command, CommanderError } from 'commander';
import { AppError } from '../errors.ts';
import { registerLicense } from './commands/license.command.ts';
import { registerMigrate } from './commands/migrate.command.ts';
import { registerPrices } from './commands/prices.command.ts';
import { registerTenants } from './commands/tenants.command.ts';
import { registerUsers } from './commands/users.command.ts';
import { CliContext } from './context.ts';
import { registerExtraCommands } from './registry.ts';

const ctx = new CliContext();
const program = new Command('billing')
  .description('metering and billing of per-user seat licenses')
  .showHelpAfterError()
  .exitOverride();

registerMigrate(program, ctx);
registerTenants(program, ctx);
registerPrices(program, ctx);
registerUsers(program, ctx);
registerLicense(program, ctx);
registerExtraCommands(program, ctx);

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are not errors; every other commander error is bad usage (exit 2).
    return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help'
      ? 0
      : 2;
  }
  if (error instanceof AppError) {
    process.stderr.write(`billing: ${error.message}\n`);
    return error.exitCode;
  }
  const err = error as Error;
  process.stderr.write(`billing: ${err?.message ?? String(error)}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${err?.stack}\n`);
  return 1;
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
} finally {
  await ctx.close().catch(() => {});
}
