/** The benches' floors talk to their server through psql (as an operator would) and plain pg. */
import pg from 'pg';
import { runProcess } from '../support/cli.ts';

const PSQL = '/usr/lib/postgresql/15/bin/psql';

/** psql with `commands` (`-c` each, `\copy` included) in one session; throws when one fails. */
export async function psql(url: string, commands: readonly string[]): Promise<void> {
  const args = commands.flatMap((c) => ['-c', c]);
  const r = await runProcess(PSQL, [url, '-v', 'ON_ERROR_STOP=1', ...args], { env: process.env });
  if (r.code !== 0) throw new Error(`psql failed: ${r.stderr}`);
}

/** `statements` one after the other on one connection. */
export async function execute(url: string, statements: readonly string[]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}
