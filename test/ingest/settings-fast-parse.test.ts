/**
 * The hand-checked settings line (`fastSettingsVersionLine`) against the schema it stands in for:
 * whenever it accepts a value, the schema accepts it with the same output; whenever the schema
 * refuses, it does not accept. Values are generated around the edges (lengths, enums, types,
 * unknown keys, offsets, instants before 2000, NUL and lone surrogates).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fastSettingsVersionLine,
  settingsVersionLineSchema,
} from '../../src/ingest/settings-version.schema.ts';
import { isoInstantArb } from '../support/arbitraries.ts';

const text = (max: number) =>
  fc.oneof(
    fc.string({ minLength: 0, maxLength: max + 2 }),
    fc.constantFrom('', 'a\u0000b', '\ud800', 'ok', 'x'.repeat(max), 'x'.repeat(max + 1)),
  );
const anything = fc.oneof(fc.constant(null), fc.integer(), fc.boolean(), fc.string(), fc.array(fc.string()));
const instant = fc.oneof(
  fc.constantFrom(
    '2026-11-03T14:05:00.000+01:00',
    '2026-11-03T13:05:00Z',
    '2026-11-03T13:05:00',
    '1999-12-31T23:59:59Z',
    '2000-01-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2026-11-03 13:05:00Z',
    'not a time',
  ),
  isoInstantArb({ min: '1990-01-01', max: '2040-01-01' }),
);
const field = <T>(arb: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: anything }), { nil: undefined });

const lineArb = fc
  .record({
    tenantId: field(text(63)),
    userId: field(text(200)),
    effectiveAt: field(instant),
    email: field(text(320)),
    lastName: field(text(200)),
    active: field(fc.boolean()),
    role: field(fc.constantFrom('user', 'team_leader', 'administrator', 'root')),
    permissions: field(
      fc.array(fc.constantFrom('communication', 'dashboard', 'statistics', 'api', 'root'), { maxLength: 4 }),
    ),
    trackStatistics: field(fc.boolean()),
    skills: field(fc.array(text(100), { maxLength: 3 })),
    recordCalls: field(fc.boolean()),
    billing: field(fc.constantFrom('monthly', 'daily', 'weekly')),
    extra: fc.option(fc.string(), { nil: undefined }),
  })
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));

describe('settings lines: the hand-checked path agrees with the schema', () => {
  it('accepts only what the schema accepts, with the same output', () => {
    fc.assert(
      fc.property(lineArb, (value) => {
        const fast = fastSettingsVersionLine(value);
        const zod = settingsVersionLineSchema.safeParse(value);
        if (!zod.success) expect(fast).toBeUndefined();
        else if (fast !== undefined) expect(fast).toEqual(zod.data);
      }),
      { numRuns: 3000 },
    );
  });

  it('takes the common valid line without the schema', () => {
    const line = {
      tenantId: 'acme',
      userId: 'u-1',
      effectiveAt: '2026-11-03T14:05:00.000+01:00',
      role: 'team_leader',
      permissions: ['communication'],
      skills: ['cz-voice'],
    };
    expect(fastSettingsVersionLine(line)).toEqual(settingsVersionLineSchema.parse(line));
  });
});
