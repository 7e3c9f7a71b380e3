import fc from 'fast-check';

/**
 * Instants as `toISOString` writes them (UTC, milliseconds, `Z`), between `range.min` and
 * `range.max` when given: the random part of the instant arbitraries of the parser properties.
 */
export function isoInstantArb(range?: { min: string; max: string }): fc.Arbitrary<string> {
  const bounds = range === undefined ? {} : { min: new Date(range.min), max: new Date(range.max) };
  return fc.date({ ...bounds, noInvalidDate: true }).map((d) => d.toISOString());
}
