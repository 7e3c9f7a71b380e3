import { z } from 'zod';
import { UnknownTenantError } from '../billing/errors.ts';
import type { Db } from '../db/database.ts';
import {
  type ApiKeyRecord,
  findApiKeys,
  listApiKeys,
  revokeApiKey,
} from '../db/repositories/api-key.repository.ts';
import { findTenant, insertTenant, listTenants } from '../db/repositories/tenant.repository.ts';
import { isValidTimeZone } from '../domain/calendar.ts';
import { isIsoCurrency } from '../domain/money.ts';
import { describeZodError } from '../domain/settings.ts';
import type { Tenant } from '../domain/tenant.ts';
import { ConflictError, InputError } from '../errors.ts';
import { issueApiKey, keyState } from './api-key.ts';

export const tenantSchema = z.strictObject({
  id: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9_-]{0,62}$/,
      'must be a short slug: lowercase letters, digits, "-" or "_" (1-63)',
    ),
  name: z.string().trim().min(1, 'must not be empty').max(200),
  timezone: z.string().superRefine((tz, ctx) => {
    if (!isValidTimeZone(tz)) ctx.addIssue({ code: 'custom', message: `"${tz}" is not an IANA time zone` });
  }),
  currency: z.string().superRefine((c, ctx) => {
    if (!isIsoCurrency(c))
      ctx.addIssue({ code: 'custom', message: `"${c}" is not an ISO 4217 currency code` });
  }),
  cutoffHour: z.number().int().min(0).max(23).default(2),
});

export type TenantInput = z.input<typeof tenantSchema>;

export async function addTenant(db: Db, input: TenantInput): Promise<Tenant> {
  const parsed = tenantSchema.safeParse(input);
  if (!parsed.success) throw new InputError(`tenant refused: ${describeZodError(parsed.error)}`);
  const tenant = parsed.data;
  if (!(await insertTenant(db, tenant))) throw new ConflictError(`tenant "${tenant.id}" already exists`);
  return tenant;
}

export { listTenants };

async function requireTenant(db: Db, tenantId: string): Promise<void> {
  if (!(await findTenant(db, tenantId))) throw new UnknownTenantError(tenantId);
}

/** Creates a key for an existing tenant, valid until `expiresAt` (null: no expiry); the plain key is in the result, once. */
export async function createTenantKey(
  db: Db,
  input: { tenantId: string; expiresAt: Date | null; now: Date },
): Promise<{ key: string; id: string; prefix: string; expiresAt: Date | null }> {
  await requireTenant(db, input.tenantId);
  return issueApiKey(db, input.tenantId, { now: input.now, expiresAt: input.expiresAt });
}

export type TenantKey = ApiKeyRecord & { state: 'active' | 'revoked' | 'expired' };

/** Every key of an existing tenant with its state at `now`, oldest first (never the key itself). */
export async function listTenantKeys(db: Db, tenantId: string, now: Date): Promise<TenantKey[]> {
  await requireTenant(db, tenantId);
  return (await listApiKeys(db, tenantId)).map((k) => ({ ...k, state: keyState(k, now) }));
}

/**
 * Revokes one key of the tenant, chosen by id or by prefix (a prefix must match exactly one
 * key). From then on it gets 401 like any wrong key. Revoking a revoked key changes nothing.
 */
export async function revokeTenantKey(
  db: Db,
  input: { tenantId: string; id?: string | undefined; prefix?: string | undefined; now: Date },
): Promise<{ key: ApiKeyRecord; revoked: boolean }> {
  if ((input.id === undefined) === (input.prefix === undefined))
    throw new InputError(
      'give the key to revoke by its id or by its prefix (one of them; see `billing tenants keys`)',
    );
  if (input.id !== undefined && !/^[1-9]\d{0,17}$/.test(input.id))
    throw new InputError(`"${input.id}" is not a key id (a positive integer, see \`billing tenants keys\`)`);
  await requireTenant(db, input.tenantId);
  const by = input.id !== undefined ? { id: input.id } : { prefix: input.prefix as string };
  const found = await findApiKeys(db, input.tenantId, by);
  const what = input.id !== undefined ? `id ${input.id}` : `prefix "${input.prefix}"`;
  if (found.length === 0) throw new InputError(`tenant "${input.tenantId}" has no API key with ${what}`);
  if (found.length > 1)
    throw new InputError(
      `${what} matches ${found.length} keys of tenant "${input.tenantId}" (ids ${found.map((k) => k.id).join(', ')}): revoke by id`,
    );
  const key = found[0] as ApiKeyRecord;
  const revoked = await revokeApiKey(db, input.tenantId, key.id, input.now);
  return { key: revoked ? { ...key, revokedAt: input.now } : key, revoked };
}
