import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseSettings, PERMISSIONS } from '../../src/domain/settings.ts';

const reference = (values: readonly string[]) =>
  [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('normaliseSettings', () => {
  it('de-duplicates and sorts permissions and skills (lists already in order copied, not shared)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...PERMISSIONS), { maxLength: 10 }),
        fc.array(fc.oneof(fc.string({ minLength: 1, maxLength: 4 }), fc.constantFrom('a', 'b', 'é', '😀')), {
          maxLength: 8,
        }),
        (permissions, skills) => {
          const s = normaliseSettings({
            role: 'user',
            permissions,
            trackStatistics: false,
            skills,
            recordCalls: false,
            billing: 'monthly',
          });
          expect(s.permissions).toEqual(reference(permissions));
          expect(s.skills).toEqual(reference(skills));
          expect(s.skills).not.toBe(skills);
          expect(s.permissions).not.toBe(permissions);
        },
      ),
      { numRuns: 500 },
    );
  });
});
