import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveLicense } from '../../src/domain/license.ts';
import {
  type License,
  licenseRank,
  normaliseSettings,
  PERMISSIONS,
  ROLES,
  type Settings,
  settingsSchema,
} from '../../src/domain/settings.ts';
import { previewLicense } from '../../src/ingest/license-preview.ts';

interface Case {
  name: string;
  settings: Record<string, unknown>;
  expect: { license: string; billing: string; addons: string[]; rules: string[] };
}

const cases: Case[] = JSON.parse(
  readFileSync(new URL('../fixtures/license-cases.json', import.meta.url), 'utf8'),
);

const resolve = (raw: unknown) => resolveLicense(normaliseSettings(settingsSchema.parse(raw)));
const rulesOf = (reasons: string[]) => [...new Set(reasons.map((r) => r.slice(0, r.indexOf(':'))))].sort();

describe('test/fixtures/license-cases.json (the golden cases of docs/licensing.md)', () => {
  it('has cases to check', () => expect(cases.length).toBeGreaterThan(20));

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = resolve(c.settings);
    expect(result.license).toBe(c.expect.license);
    expect(result.billing).toBe(c.expect.billing);
    expect(result.addons).toEqual(c.expect.addons);
    expect(rulesOf(result.reasons)).toEqual([...c.expect.rules].sort());
  });
});

describe('reasons name what triggered them', () => {
  it('says which role granted a permission', () => {
    const r = resolve({ role: 'administrator' });
    expect(r.reasons).toContain('R4: permission workspace (from role administrator)');
  });
  it('lists one R3 entry per triggering permission', () => {
    const r = resolve({ permissions: ['statistics', 'settings'] });
    expect(r.reasons.filter((x) => x.startsWith('R3:'))).toHaveLength(2);
  });
});

describe('validation names the field', () => {
  it.each([
    [{ role: 'boss' }, 'role'],
    [{ permissions: ['communication', 'admin'] }, 'permissions.1'],
    [{ skills: null }, 'skills'],
    [{ skills: [''] }, 'skills.0'],
    [{ trackStatistics: 'yes' }, 'trackStatistics'],
    [{ recordCalls: null }, 'recordCalls'],
    [{ billing: 'weekly' }, 'billing'],
    [{ colour: 'blue' }, 'colour'],
  ])('%j is refused naming %s', (input, field) => {
    const preview = previewLicense(input);
    expect(preview.ok).toBe(false);
    if (!preview.ok) expect(preview.error).toContain(field);
  });
  it('refuses a non-object', () => {
    expect(previewLicense([1, 2]).ok).toBe(false);
  });
});

const settingsArb: fc.Arbitrary<Settings> = fc
  .record({
    role: fc.constantFrom(...ROLES),
    permissions: fc.subarray([...PERMISSIONS]),
    trackStatistics: fc.boolean(),
    skills: fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 4 }),
    recordCalls: fc.boolean(),
    billing: fc.constantFrom('monthly' as const, 'daily' as const),
  })
  .map((s) => normaliseSettings(s));

const rank = (l: License) => licenseRank(l);

describe('laws of the license engine (property tests)', () => {
  // R2 is the one way down: adding `dashboard` to a user who has nothing else makes them
  // Dashboard-only. Every other addition keeps or raises the license.
  const isDashboardOnly = (s: Settings) =>
    resolveLicense(s).license === 'dashboard' && rulesOf(resolveLicense(s).reasons).includes('R2');

  it('adding a permission, a skill or statistics tracking never lowers the license, except into Dashboard-only', () => {
    fc.assert(
      fc.property(
        settingsArb,
        fc.constantFrom(...PERMISSIONS),
        fc.string({ minLength: 1, maxLength: 3 }),
        (s, p, skill) => {
          const base = rank(resolveLicense(s).license);
          const more = [
            { ...s, permissions: [...s.permissions, p] },
            { ...s, skills: [...s.skills, skill] },
            { ...s, trackStatistics: true },
          ].map((x) => normaliseSettings(x));
          for (const m of more) {
            if (isDashboardOnly(m) && !isDashboardOnly(s)) continue;
            expect(rank(resolveLicense(m).license)).toBeGreaterThanOrEqual(base);
          }
        },
      ),
    );
  });

  it('the only addition that lowers a license is `dashboard` given to a user with nothing else', () => {
    const empty = normaliseSettings(settingsSchema.parse({}));
    expect(resolveLicense(empty).license).toBe('standard');
    const withDashboard = normaliseSettings({ ...empty, permissions: ['dashboard'] });
    expect(resolveLicense(withDashboard).license).toBe('dashboard');
    expect(rulesOf(resolveLicense(withDashboard).reasons)).toEqual(['R2']);
  });

  it('the result is the lowest license that satisfies every rule that applied', () => {
    const floorOf: Record<string, License> = {
      R2: 'dashboard',
      R3: 'professional',
      R4: 'enterprise',
      R5: 'developer',
      R6: 'professional',
      R7: 'professional',
    };
    fc.assert(
      fc.property(settingsArb, (s) => {
        const r = resolveLicense(s);
        const rules = rulesOf(r.reasons);
        const needed = rules.reduce(
          (max, rule) => Math.max(max, rank(floorOf[rule] as License)),
          rank('standard'),
        );
        if (rules.includes('R2')) {
          expect(r.license).toBe('dashboard');
          expect(rules).toEqual(['R2']);
        } else {
          expect(rank(r.license)).toBe(needed);
        }
      }),
    );
  });

  it('recording is never an add-on of enterprise or developer, and always one of standard/professional when recorded', () => {
    fc.assert(
      fc.property(settingsArb, (s) => {
        const r = resolveLicense(s);
        const expected = s.recordCalls && (r.license === 'standard' || r.license === 'professional');
        expect(r.addons).toEqual(expected ? ['recording'] : []);
      }),
    );
  });

  it('only professional and enterprise are billed daily', () => {
    fc.assert(
      fc.property(settingsArb, (s) => {
        const r = resolveLicense(s);
        const daily = r.license === 'professional' || r.license === 'enterprise';
        expect(r.billing).toBe(daily ? s.billing : 'monthly');
      }),
    );
  });
});
