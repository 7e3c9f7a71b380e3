import type { Command } from 'commander';
import type { CliContext } from './context.ts';

type Register = (program: Command, ctx: CliContext) => void;

/**
 * Every subcommand, loaded on demand: a run of `billing export` imports the export and nothing
 * else (not fastify, BullMQ or PGlite), which keeps each command's start-up time and memory to
 * what it uses. `billing --help` loads them all to list them.
 */
export const COMMANDS: Record<string, () => Promise<Register>> = {
  migrate: async () => (await import('./commands/migrate.command.ts')).registerMigrate,
  tenants: async () => (await import('./commands/tenants.command.ts')).registerTenants,
  prices: async () => (await import('./commands/prices.command.ts')).registerPrices,
  users: async () => (await import('./commands/users.command.ts')).registerUsers,
  license: async () => (await import('./commands/license.command.ts')).registerLicense,
  ingest: async () => (await import('./commands/ingest.command.ts')).registerIngest,
  run: async () => (await import('./commands/run.command.ts')).registerRun,
  runs: async () => (await import('./commands/runs.command.ts')).registerRuns,
  replay: async () => (await import('./commands/replay.command.ts')).registerReplay,
  close: async () => (await import('./commands/close.command.ts')).registerClose,
  export: async () => (await import('./commands/export.command.ts')).registerExport,
  serve: async () => (await import('./commands/serve.command.ts')).registerServe,
  worker: async () => (await import('./commands/worker.command.ts')).registerWorker,
  queue: async () => (await import('./commands/queue.command.ts')).registerQueue,
  demo: async () => (await import('./commands/demo.command.ts')).registerDemo,
  explain: async () => (await import('./commands/explain.command.ts')).registerExplain,
  reconcile: async () => (await import('./commands/reconcile.command.ts')).registerReconcile,
};

/** Registers the command named on the command line, or every command when none is (help). */
export async function registerCommands(
  program: Command,
  ctx: CliContext,
  argv: readonly string[],
): Promise<void> {
  const name = argv[2];
  const load = name === undefined ? undefined : COMMANDS[name];
  const loaders = load ? [load] : Object.values(COMMANDS);
  for (const register of await Promise.all(loaders.map((l) => l()))) register(program, ctx);
}
