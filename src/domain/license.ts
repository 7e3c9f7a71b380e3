import {
  type Addon,
  type BillingMode,
  type License,
  licenseRank,
  type Permission,
  type Settings,
} from './settings.ts';

export type RuleId = 'R2' | 'R3' | 'R4' | 'R5' | 'R6' | 'R7';

export interface Reason {
  rule: RuleId;
  text: string;
}

export interface LicenseResult {
  license: License;
  billing: BillingMode;
  addons: Addon[];
  /** Every rule of R2–R7 that applied, each as "R3: permission statistics (from role team_leader)". */
  reasons: string[];
}

const ROLE_GRANTS: Record<Settings['role'], readonly Permission[]> = {
  user: [],
  team_leader: ['statistics', 'team'],
  administrator: ['statistics', 'team', 'settings', 'workspace'],
};

/** Licenses that may be billed daily; every other license is billed monthly whatever is requested. */
const DAILY_BILLABLE: ReadonlySet<License> = new Set(['professional', 'enterprise']);
/** Licenses on which call recording is a paid add-on; above them it is included. */
const RECORDING_ADDON_LICENSES: ReadonlySet<License> = new Set(['standard', 'professional']);

interface Floor {
  rule: RuleId;
  floor: License;
  text: string;
}

/** Which permission came from where, so that a reason can say "from role administrator". */
function effectivePermissions(settings: Settings): Map<Permission, string> {
  const origin = new Map<Permission, string>();
  for (const p of settings.permissions) origin.set(p, `permission ${p}`);
  for (const p of ROLE_GRANTS[settings.role]) {
    if (!origin.has(p)) origin.set(p, `permission ${p} (from role ${settings.role})`);
  }
  return origin;
}

function isDashboardOnly(settings: Settings, permissions: Map<Permission, string>): boolean {
  return (
    permissions.size === 1 &&
    permissions.has('dashboard') &&
    settings.skills.length === 0 &&
    !settings.trackStatistics &&
    !settings.recordCalls
  );
}

/** The floors demanded by R3–R7, in rule order. */
function ruleFloors(settings: Settings, permissions: Map<Permission, string>): Floor[] {
  const floors: Floor[] = [];
  for (const [p, text] of permissions) {
    if (p !== 'communication') floors.push({ rule: 'R3', floor: 'professional', text });
  }
  for (const [p, text] of permissions) {
    if (p === 'workspace') floors.push({ rule: 'R4', floor: 'enterprise', text });
  }
  for (const [p, text] of permissions) {
    if (p === 'workflow' || p === 'api') floors.push({ rule: 'R5', floor: 'developer', text });
  }
  if (settings.trackStatistics) floors.push({ rule: 'R6', floor: 'professional', text: 'trackStatistics' });
  if (settings.skills.length > 1) {
    floors.push({ rule: 'R7', floor: 'professional', text: `${settings.skills.length} distinct skills` });
  }
  return floors;
}

/**
 * Derives the lowest license that meets every requirement of `docs/licensing.md` (R1–R7), the
 * effective billing mode, the add-ons, and the reasons. Pure: `settings` must be normalised
 * (see `normaliseSettings`), so that skills are already a set.
 */
export function resolveLicense(settings: Settings): LicenseResult {
  const permissions = effectivePermissions(settings);
  let license: License;
  let reasons: Reason[];
  if (isDashboardOnly(settings, permissions)) {
    license = 'dashboard';
    reasons = [{ rule: 'R2', text: 'Dashboard-only user' }];
  } else {
    const floors = ruleFloors(settings, permissions);
    license = 'standard';
    for (const f of floors) if (licenseRank(f.floor) > licenseRank(license)) license = f.floor;
    reasons = floors;
  }
  const billing: BillingMode = DAILY_BILLABLE.has(license) ? settings.billing : 'monthly';
  const addons: Addon[] = settings.recordCalls && RECORDING_ADDON_LICENSES.has(license) ? ['recording'] : [];
  return { license, billing, addons, reasons: reasons.map((r) => `${r.rule}: ${r.text}`) };
}
