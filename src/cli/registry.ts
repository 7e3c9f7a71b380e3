import { type Command, Help } from 'commander';
import type { CliContext } from './context.ts';

type Register = (program: Command, ctx: CliContext) => void;

interface CommandEntry {
  /** Loads the module that registers the command. */
  load: () => Promise<Register>;
  /** How `billing --help` lists it (commander's term: name, `[options]`, arguments). */
  term: string;
  /** One line for `billing --help`; the command's own `--help` has the full description. */
  summary: string;
}

/**
 * Every subcommand, loaded on demand: a run of `billing export` imports the export and nothing
 * else (not fastify, BullMQ or PGlite), which keeps each command's start-up time and memory to
 * what it uses. `billing --help` loads none of them: it lists `term` and `summary` from this
 * table (test/e2e/cli-help.test.ts keeps the terms equal to the real commands').
 */
export const COMMANDS: Record<string, CommandEntry> = {
  migrate: {
    load: async () => (await import('./commands/migrate.command.ts')).registerMigrate,
    term: 'migrate',
    summary: 'apply pending database migrations (running it again changes nothing)',
  },
  tenants: {
    load: async () => (await import('./commands/tenants.command.ts')).registerTenants,
    term: 'tenants',
    summary: 'add, import and list tenants; create, list and revoke API keys',
  },
  prices: {
    load: async () => (await import('./commands/prices.command.ts')).registerPrices,
    term: 'prices',
    summary: 'load a price book version (JSON)',
  },
  users: {
    load: async () => (await import('./commands/users.command.ts')).registerUsers,
    term: 'users',
    summary: 'import user settings versions (NDJSON)',
  },
  license: {
    load: async () => (await import('./commands/license.command.ts')).registerLicense,
    term: 'license',
    summary: 'resolve the license of settings (NDJSON in, NDJSON out); stores nothing',
  },
  ingest: {
    load: async () => (await import('./commands/ingest.command.ts')).registerIngest,
    term: 'ingest [options] <file>',
    summary: 'import login events (NDJSON or CSV); list kept rejects',
  },
  run: {
    load: async () => (await import('./commands/run.command.ts')).registerRun,
    term: 'run [options]',
    summary: 'bill a day or a range of days now, in this process',
  },
  runs: {
    load: async () => (await import('./commands/runs.command.ts')).registerRuns,
    term: 'runs [options]',
    summary: 'list the current runs (--history: every run)',
  },
  replay: {
    load: async () => (await import('./commands/replay.command.ts')).registerReplay,
    term: 'replay [options]',
    summary: 're-bill days from the data as it is now and print the difference',
  },
  close: {
    load: async () => (await import('./commands/close.command.ts')).registerClose,
    term: 'close [options]',
    summary: 'close a period: its lines become final',
  },
  export: {
    load: async () => (await import('./commands/export.command.ts')).registerExport,
    term: 'export [options]',
    summary: 'write the invoice CSV of a month',
  },
  serve: {
    load: async () => (await import('./commands/serve.command.ts')).registerServe,
    term: 'serve [options]',
    summary: 'the HTTP API, /healthz, /metrics and the queue dashboard',
  },
  worker: {
    load: async () => (await import('./commands/worker.command.ts')).registerWorker,
    term: 'worker [options]',
    summary: 'the queue worker, the billing schedule and the login-event stream consumer',
  },
  queue: {
    load: async () => (await import('./commands/queue.command.ts')).registerQueue,
    term: 'queue',
    summary: 'queue work for the worker fleet (needs REDIS_URL)',
  },
  demo: {
    load: async () => (await import('./commands/demo.command.ts')).registerDemo,
    term: 'demo [options]',
    summary: 'a month billed end to end on the embedded database, with a summary',
  },
  explain: {
    load: async () => (await import('./commands/explain.command.ts')).registerExplain,
    term: 'explain [options]',
    summary: 'why a user was charged: settings, license, logins, prices, proration, run',
  },
  reconcile: {
    load: async () => (await import('./commands/reconcile.command.ts')).registerReconcile,
    term: 'reconcile [options]',
    summary: 'is a month whole: per tenant-day counts, statuses and anomalies',
  },
};

export const REFERENCE = 'docs/cli.md';

/** The subcommand named on the command line (after any global option), or undefined. */
export function commandName(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  const first = args.findIndex((a) => !a.startsWith('-'));
  if (first < 0) return undefined;
  const name = args[first] as string;
  // `billing help run` is `billing run --help`.
  return name === 'help' ? args[first + 1] : name;
}

/**
 * Registers the command named on the command line with its real options; when none is named
 * (`billing --help`, `billing`, an unknown name) registers a placeholder per command from the
 * table instead, which is all the top-level help and commander's "did you mean" need.
 */
export async function registerCommands(
  program: Command,
  ctx: CliContext,
  argv: readonly string[],
): Promise<void> {
  const name = commandName(argv);
  const entry = name === undefined ? undefined : COMMANDS[name];
  if (entry) {
    (await entry.load())(program, ctx);
    for (const cmd of program.commands) pointToReference(cmd, [cmd.name()]);
    return;
  }
  const terms = new Map(Object.entries(COMMANDS).map(([n, e]) => [n, e.term]));
  program.configureHelp({
    subcommandTerm: (cmd) =>
      (cmd.parent === program ? terms.get(cmd.name()) : undefined) ?? new Help().subcommandTerm(cmd),
  });
  for (const [n, e] of Object.entries(COMMANDS)) program.command(n).description(e.summary);
}

/** Every (sub)command's `--help` ends with where its reference is. */
function pointToReference(cmd: Command, path: string[]): void {
  cmd.addHelpText('after', `\nReference: ${REFERENCE} (billing ${path.join(' ')})`);
  for (const sub of cmd.commands) pointToReference(sub, [...path, sub.name()]);
}
