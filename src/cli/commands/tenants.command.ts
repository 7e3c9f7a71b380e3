import type { Command } from 'commander';
import { InputError } from '../../errors.ts';
import {
  addTenant,
  createTenantKey,
  listTenantKeys,
  listTenants,
  revokeTenantKey,
} from '../../tenancy/tenant.service.ts';
import { importTenantsFile } from '../../tenancy/tenant-import.service.ts';
import type { CliContext } from '../context.ts';
import { printImportCounts, registerImport } from '../import-counts.ts';
import { parseKeyExpiry } from '../key-expiry.ts';
import { parseIntOption } from '../options.ts';

export function registerTenants(program: Command, ctx: CliContext): void {
  const tenants = program
    .command('tenants')
    .description('manage tenants and their API keys')
    .enablePositionalOptions();

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

  registerImport(
    tenants,
    ctx,
    'add many tenants from NDJSON, one {"id","name","timezone","currency","cutoffHour"?} a line; ' +
      'an identical existing tenant is unchanged, a different one refused; exit 2 if any line was refused',
    async ({ db, input, refuse }, _file, opts) => {
      const { created, unchanged, refused } = await importTenantsFile(db, input, refuse);
      printImportCounts(ctx, { created, unchanged, refused }, refused, opts.json);
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

  const key = tenants
    .command('key')
    .description('create an API key for a tenant, printed once as the last word (`key revoke` revokes one)')
    // `key revoke --tenant T`: the options after `revoke` are revoke's, not this command's.
    // Not a commander "required" option: commander would then demand it of `key revoke` too.
    .enablePositionalOptions()
    .option('--tenant <id>', 'tenant id (required)')
    .option('--expires-in <duration>', 'valid for this long: 90d, 12h or 30m (default: no expiry)')
    .option('--expires-at <instant>', 'valid until this ISO 8601 instant, e.g. 2027-03-01T00:00:00Z')
    .action(async (opts: { tenant?: string; expiresIn?: string; expiresAt?: string }) => {
      if (opts.tenant === undefined) throw new InputError("required option '--tenant <id>' not specified");
      const { db } = await ctx.database();
      const now = new Date();
      const expiresAt = parseKeyExpiry(opts, now);
      const created = await createTenantKey(db, { tenantId: opts.tenant, expiresAt, now });
      const expiry = created.expiresAt ? `expires ${created.expiresAt.toISOString()}` : 'no expiry';
      ctx.print(
        `API key ${created.id} (${created.prefix}…, ${expiry}) for tenant ${opts.tenant} (shown once, store it now): ${created.key}`,
      );
    });

  key
    .command('revoke')
    .description('revoke one API key of a tenant: from now on it gets 401 like a wrong key')
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--id <id>', 'the key id (see `billing tenants keys`)')
    .option('--prefix <prefix>', 'the key prefix, e.g. bk_AbC123 (must match one key)')
    .action(async (opts: { tenant: string; id?: string; prefix?: string }) => {
      if ((opts.id === undefined) === (opts.prefix === undefined))
        throw new InputError(
          'give the key to revoke with --id or --prefix (one of them; see `billing tenants keys`)',
        );
      const { db } = await ctx.database();
      const now = new Date();
      const { key: k, revoked } = await revokeTenantKey(db, { ...opts, tenantId: opts.tenant, now });
      ctx.print(
        revoked
          ? `revoked API key ${k.id} (${k.prefix}…) of tenant ${opts.tenant}`
          : `API key ${k.id} (${k.prefix}…) of tenant ${opts.tenant} was already revoked at ${k.revokedAt?.toISOString()}: nothing changed`,
      );
    });

  tenants
    .command('keys')
    .description(
      'list the API keys of a tenant: id, prefix, created, last used, expires, state (never the key)',
    )
    .requiredOption('--tenant <id>', 'tenant id')
    .option('--json', 'one JSON array')
    .action(async (opts: { tenant: string; json?: boolean }) => {
      const { db } = await ctx.database();
      const keys = await listTenantKeys(db, opts.tenant, new Date());
      const iso = (d: Date | null) => (d ? d.toISOString() : null);
      if (opts.json) {
        return ctx.print(
          JSON.stringify(
            keys.map((k) => ({
              id: k.id,
              prefix: k.prefix,
              createdAt: iso(k.createdAt),
              lastUsedAt: iso(k.lastUsedAt),
              expiresAt: iso(k.expiresAt),
              revokedAt: iso(k.revokedAt),
              state: k.state,
            })),
          ),
        );
      }
      if (keys.length === 0) return ctx.print(`tenant ${opts.tenant} has no API keys`);
      ctx.print('id\tprefix\tcreated\tlast used\texpires\tstate');
      for (const k of keys) {
        const state = k.state === 'revoked' ? `revoked ${iso(k.revokedAt)}` : k.state;
        ctx.print(
          [
            k.id,
            k.prefix,
            iso(k.createdAt),
            iso(k.lastUsedAt) ?? 'never',
            iso(k.expiresAt) ?? 'never',
            state,
          ].join('\t'),
        );
      }
    });
}
