import { z } from 'zod';
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
  if (!(await findTenant(db, tenantId))) throw new InputError(`--tenant: unknown tenant "${tenantId}"`);
}

const DURATION_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * The expiry of a new key from `--expires-in` (`90d`, `12h`, `30m`: a whole number and a unit)
 * or `--expires-at` (an ISO 8601 instant with an offset or `Z`), judged at `now`; at most one of
 * them; neither: no expiry. An expiry that is not in the future is refused.
 */
export function parseKeyExpiry(
  options: { expiresIn?: string | undefined; expiresAt?: string | undefined },
  now: Date,
): Date | null {
  const { expiresIn, expiresAt } = options;
  if (expiresIn !== undefined && expiresAt !== undefined)
    throw new InputError('give --expires-in or --expires-at, not both');
  let at: Date;
  if (expiresIn !== undefined) {
    const match = /^([1-9]\d{0,5})([mhd])$/.exec(expiresIn);
    if (!match)
      throw new InputError(
        `--expires-in: "${expiresIn}" is not a duration like 90d, 12h or 30m (whole number, unit m, h or d)`,
      );
    const unit = match[2] as keyof typeof DURATION_UNITS_MS;
    at = new Date(now.getTime() + Number(match[1]) * DURATION_UNITS_MS[unit]);
  } else if (expiresAt !== undefined) {
    const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(expiresAt);
    at = new Date(expiresAt);
    if (!ok || Number.isNaN(at.getTime()))
      throw new InputError(
        `--expires-at: "${expiresAt}" is not an ISO 8601 instant with an offset, e.g. 2027-03-01T00:00:00Z`,
      );
  } else return null;
  if (at.getTime() <= now.getTime())
    throw new InputError(`the expiry ${at.toISOString()} is not in the future (now ${now.toISOString()})`);
  return at;
}

/** Creates a key for an existing tenant; the plain key is in the result, once. */
export async function createTenantKey(
  db: Db,
  input: { tenantId: string; expiresIn?: string | undefined; expiresAt?: string | undefined; now: Date },
): Promise<{ key: string; id: string; prefix: string; expiresAt: Date | null }> {
  const expiresAt = parseKeyExpiry(input, input.now);
  await requireTenant(db, input.tenantId);
  return issueApiKey(db, input.tenantId, { now: input.now, expiresAt });
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
      'give the key to revoke with --id or --prefix (one of them; see `billing tenants keys`)',
    );
  if (input.id !== undefined && !/^[1-9]\d{0,17}$/.test(input.id))
    throw new InputError(
      `--id: "${input.id}" is not a key id (a positive integer, see \`billing tenants keys\`)`,
    );
  await requireTenant(db, input.tenantId);
  const by = input.id !== undefined ? { id: input.id } : { prefix: input.prefix as string };
  const found = await findApiKeys(db, input.tenantId, by);
  const what = input.id !== undefined ? `id ${input.id}` : `prefix "${input.prefix}"`;
  if (found.length === 0) throw new InputError(`tenant "${input.tenantId}" has no API key with ${what}`);
  if (found.length > 1)
    throw new InputError(
      `${what} matches ${found.length} keys of tenant "${input.tenantId}" (ids ${found.map((k) => k.id).join(', ')}): revoke by --id`,
    );
  const key = found[0] as ApiKeyRecord;
  const revoked = await revokeApiKey(db, input.tenantId, key.id, input.now);
  return { key: revoked ? { ...key, revokedAt: input.now } : key, revoked };
}
