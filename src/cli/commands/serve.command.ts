import type { Command } from 'commander';
import { buildServer } from '../../http/server.ts';
import type { CliContext } from '../context.ts';
import { parseIntOption } from '../options.ts';

/** `cli.md`: on SIGTERM the requests in flight finish and the process exits within 10 s. */
const SHUTDOWN_LIMIT_MS = 9_000;

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description(
      'the HTTP API (ingest.md), GET /healthz and GET /metrics; host from HOST (default 127.0.0.1)',
    )
    .option('--port <n>', 'TCP port (default PORT or 8080)', parseIntOption('--port'))
    .action(async (opts: { port?: number }) => {
      const { db, kind } = await ctx.database();
      const app = buildServer({ db, logger: ctx.logger, serialize: kind === 'embedded' });
      const port = opts.port ?? ctx.config.PORT;
      await app.listen({ port, host: ctx.config.HOST });
      ctx.logger.info({ port, host: ctx.config.HOST }, 'serving');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          ctx.logger.info({ signal }, 'shutting down: finishing requests in flight');
          // A hard limit: a stuck request must not keep the process past the spec's 10 s.
          setTimeout(() => {
            ctx.logger.error('requests still running at the shutdown limit: exiting');
            process.exit(1);
          }, SHUTDOWN_LIMIT_MS).unref();
          app.close().then(resolve, resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
