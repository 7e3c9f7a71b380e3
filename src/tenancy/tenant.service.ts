import { z } from 'zod';
import type { Db } from '../db/database.ts';
import { insertTenant, listTenants, type Tenant } from '../db/repositories/tenant.repository.ts';
import { isValidTimeZone } from '../domain/calendar.ts';
import { isIsoCurrency } from '../domain/money.ts';
import { describeZodError } from '../domain/settings.ts';
import { ConflictError, InputError } from '../errors.ts';

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
