import type { Db } from '../db/database.ts';
import type { CliContext } from './context.ts';

/** The --tenant, --month and --day options of a report command, named as the services' queries name them. */
export function scopeOptions<
  O extends { tenant?: string | undefined; month?: string | undefined; day?: string | undefined },
>(opts: O): { tenantId: O['tenant']; month: O['month']; day: O['day'] } {
  return { tenantId: opts.tenant, month: opts.month, day: opts.day };
}

/**
 * The one way a report command answers: opens the database, reads the report with `read`, then
 * prints it as one JSON text under `--json` (`toJson` of it, by default the report itself), else
 * as `text` writes it. Returns the report (for an exit code that depends on it).
 */
export async function printReport<R>(
  ctx: CliContext,
  json: boolean | undefined,
  read: (db: Db) => Promise<R>,
  text: (report: R) => string,
  toJson: (report: R) => unknown = (report) => report,
): Promise<R> {
  const { db } = await ctx.database();
  const report = await read(db);
  ctx.print(json ? JSON.stringify(toJson(report)) : text(report));
  return report;
}
