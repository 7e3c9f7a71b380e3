import type { Command } from 'commander';
import { findTenant } from '../../db/repositories/tenant.repository.ts';
import { InputError } from '../../errors.ts';
import { createApiKey } from '../../tenancy/api-key.ts';
import { addTenant, listTenants } from '../../tenancy/tenant.service.ts';
import type { CliContext } from '../context.ts';
import { parseIntOption } from '../options.ts';

export function registerTenants(program: Command, ctx: CliContext): void {
  const tenants = program.command('tenants').description('manage tenants and their API keys');

  tenants
    .command('add')
    .description('add a tenant')
    .requiredOption('--id <id>', 'short slug, e.g. acme')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--timezone <tz>', 'IANA time zone, e.g. Europe/Prague')
    .requiredOption('--currency <cur>', 'ISO 4217 code, e.g. EUR')
    .option(
      '--cutoff-hour <h>',
      'local hour on D+1 from which day D is billable',
      parseIntOption('--cutoff-hour'),
      2,
    )
    .action(
      async (opts: { id: string; name: string; timezone: string; currency: string; cutoffHour: number }) => {
        const { db } = await ctx.database();
        const tenant = await addTenant(db, { ...opts });
        ctx.print(
          `added tenant ${tenant.id} (${tenant.timezone}, ${tenant.currency}, cut-off ${tenant.cutoffHour}:00)`,
        );
      },
    );

  tenants
    .command('list')
    .description('list tenants')
    .option('--json', 'one JSON array')
    .action(async (opts: { json?: boolean }) => {
      const { db } = await ctx.database();
      const all = await listTenants(db);
      if (opts.json) return ctx.print(JSON.stringify(all));
      if (all.length === 0) return ctx.print('no tenants');
      for (const t of all)
        ctx.print(`${t.id}\t${t.name}\t${t.timezone}\t${t.currency}\tcut-off ${t.cutoffHour}`);
    });

  tenants
    .command('key')
    .description('create an API key for a tenant; printed once, as the last word')
    .requiredOption('--tenant <id>', 'tenant id')
    .action(async (opts: { tenant: string }) => {
      const { db } = await ctx.database();
      if (!(await findTenant(db, opts.tenant)))
        throw new InputError(`--tenant: unknown tenant "${opts.tenant}"`);
      const key = await createApiKey(db, opts.tenant);
      ctx.print(`API key for tenant ${opts.tenant} (shown once, store it now): ${key}`);
    });
}
