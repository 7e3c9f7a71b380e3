import { Command, CommanderError } from 'commander';
import { AppError } from '../errors.ts';
import { CliContext } from './context.ts';
import { REFERENCE, registerCommands } from './registry.ts';

const ctx = new CliContext();
const VERBOSE = ['-v, --verbose', 'log every step (info level) on stderr; LOG_LEVEL overrides'] as const;

/**
 * Options belong to the command they follow (`tenants key revoke --tenant T` is revoke's, not
 * `key`'s), so `--verbose` is offered by every command as well as before the command name.
 */
function offerVerbose(command: Command): void {
  for (const sub of command.commands) {
    if (!sub.options.some((o) => o.long === '--verbose')) sub.option(...VERBOSE);
    offerVerbose(sub);
  }
}

const program = new Command('billing')
  .description('metering and billing of per-user seat licenses')
  .option(...VERBOSE)
  .addHelpText(
    'after',
    `\nEvery command answers --help. Reference: ${REFERENCE}; the rules: docs/licensing.md, docs/billing.md.`,
  )
  .showHelpAfterError()
  .enablePositionalOptions()
  .exitOverride()
  .hook('preAction', async (_program, action) => {
    let top = action;
    while (top.parent && top.parent !== program) top = top.parent;
    await ctx.prepare({ command: top.name(), verbose: action.optsWithGlobals().verbose === true });
  });

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
  offerVerbose(program);
  await program.parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
} finally {
  await ctx.close().catch(() => {});
}
