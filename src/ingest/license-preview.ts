import { type LicenseResult, resolveLicense } from '../domain/license.ts';
import { describeZodError, normaliseSettings, settingsSchema } from '../domain/settings.ts';

export type LicensePreview = { ok: true; result: LicenseResult } | { ok: false; error: string };

/** The license that given settings (the fields of `docs/licensing.md` only) would need; stores nothing. */
export function previewLicense(value: unknown): LicensePreview {
  const parsed = settingsSchema.safeParse(value);
  if (!parsed.success) return { ok: false, error: describeZodError(parsed.error) };
  return { ok: true, result: resolveLicense(normaliseSettings(parsed.data)) };
}
