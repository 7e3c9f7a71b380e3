import type { LicenseResult } from './license.ts';

/** A user's settings from an instant on, as stored: the normalised settings and their license. */
export interface StoredSettingsVersion {
  tenantId: string;
  userId: string;
  effectiveAt: Date;
  active: boolean;
  email: string | null;
  lastName: string | null;
  /** The normalised settings of `docs/licensing.md`. */
  settings: Record<string, unknown>;
  license: string;
  billing: string;
  recordCalls: boolean;
  reasons: string[];
}

/** A settings version with the full license resolution it was stored with (addons, reasons). */
export interface SettingsVersion extends StoredSettingsVersion {
  result: LicenseResult;
  /** `JSON.stringify(settings)`, serialised once, for the batch that stores it. */
  settingsJson: string;
  /** `JSON.stringify(reasons)` (the same text for every version of one settings shape). */
  reasonsJson: string;
}
